#pragma once

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` value the gateway
// accepts or creates and every service forwards, and the calling thread's current context, which
// every log line carries as trace_id and span_id.
//
//   // In an RPC handler: continue the caller's trace, or start one.
//   std::optional<TraceContext> parent = ParseTraceParent(header);
//   ScopedTraceContext trace(parent ? ChildOf(*parent) : NewTraceContext());
//   ... log::Info(...) lines now carry the ids ...
//   outgoing_metadata["traceparent"] = FormatTraceParent(*CurrentTraceContext());

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty::log {

// trace-flags bit 0: the caller may have recorded this trace (sampled).
inline constexpr uint8_t kTraceFlagSampled = 0x01;

struct TraceContext {
  // 32 lowercase hex digits, not all zero.
  std::string trace_id;
  // 16 lowercase hex digits, not all zero: the id of the current span (the traceparent's
  // parent-id when sent on).
  std::string span_id;
  uint8_t flags = 0;

  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

// Parses "<version>-<trace-id>-<parent-id>-<flags>", e.g.
// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01". Returns nullopt, so that the caller
// starts a new trace, for anything invalid: wrong lengths or separators, uppercase or non-hex
// digits, version ff, an all-zero trace-id or parent-id, and for version 00 any trailing data.
// A version above 00 is parsed as the spec asks of a version-00 reader: its first 55 characters
// must read as version 00 and be followed by the end or a '-'; of its flags only the sampled bit
// is kept, since the other bits may mean something else in that version.
std::optional<TraceContext> ParseTraceParent(std::string_view header);

// The version-00 traceparent for `context`, which must be valid (not checked).
std::string FormatTraceParent(const TraceContext& context);

// A new trace: random trace and span ids (never all zero) and the sampled flag, since every
// service logs every call with its ids. Thread-safe.
TraceContext NewTraceContext();

// The context for work done on behalf of `parent`: the same trace id and flags, a new random
// span id. Thread-safe.
TraceContext ChildOf(const TraceContext& parent);

// Makes `context` the calling thread's current trace context for the object's lifetime, then
// restores the previous one. Scopes nest and must end in reverse order on the thread that began
// them (checked): keep them on the stack.
class ScopedTraceContext {
 public:
  explicit ScopedTraceContext(TraceContext context);
  ~ScopedTraceContext();

  ScopedTraceContext(const ScopedTraceContext&) = delete;
  ScopedTraceContext& operator=(const ScopedTraceContext&) = delete;

  const TraceContext& context() const { return context_; }

 private:
  TraceContext context_;
  const TraceContext* previous_;
};

// The calling thread's innermost ScopedTraceContext's context; nullptr outside any. The pointer
// is valid until that scope ends.
const TraceContext* CurrentTraceContext();

}  // namespace loyalty::log
