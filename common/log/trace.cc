#include "common/log/trace.h"

#include <utility>

#include "absl/random/random.h"
#include "common/check.h"

namespace loyalty::log {
namespace {

// "00-" + 32 + "-" + 16 + "-" + 2.
constexpr size_t kTraceParentSize = 55;
constexpr size_t kTraceIdOffset = 3;
constexpr size_t kTraceIdSize = 32;
constexpr size_t kSpanIdOffset = 36;
constexpr size_t kSpanIdSize = 16;
constexpr size_t kFlagsOffset = 53;

constexpr char kHexDigits[] = "0123456789abcdef";

// The innermost ScopedTraceContext's context on this thread. A plain pointer: the scopes own the
// contexts and form a stack, so no thread-local object needs constructing or destroying.
thread_local const TraceContext* current_context = nullptr;

// Uppercase is rejected because the spec defines the ids as lowercase; accepting both would let
// two spellings of one trace id reach the logs.
bool IsLowerHex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsAllZeros(std::string_view text) {
  return text.find_first_not_of('0') == std::string_view::npos;
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// Appends `value` as 16 lowercase hex digits.
void AppendHex64(uint64_t value, std::string& out) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHexDigits[(value >> shift) & 0xf]);
}

// A non-zero random 64-bit value. absl::BitGen is seeded from the OS entropy source and kept per
// thread, so ids are unguessable enough for correlation (they are not secrets) and no lock or
// system call sits on the per-call path.
uint64_t RandomNonZero64() {
  thread_local absl::BitGen bit_gen;
  uint64_t value = 0;
  while (value == 0) value = absl::Uniform<uint64_t>(bit_gen);
  return value;
}

std::string NewSpanId() {
  std::string id;
  id.reserve(kSpanIdSize);
  AppendHex64(RandomNonZero64(), id);
  return id;
}

}  // namespace

std::optional<TraceContext> ParseTraceParent(std::string_view header) {
  if (header.size() < kTraceParentSize) return std::nullopt;
  const std::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (header[2] != '-' || header[kSpanIdOffset - 1] != '-' || header[kFlagsOffset - 1] != '-') {
    return std::nullopt;
  }
  const std::string_view trace_id = header.substr(kTraceIdOffset, kTraceIdSize);
  const std::string_view span_id = header.substr(kSpanIdOffset, kSpanIdSize);
  const std::string_view flags = header.substr(kFlagsOffset, 2);
  if (!IsLowerHex(trace_id) || IsAllZeros(trace_id) || !IsLowerHex(span_id) ||
      IsAllZeros(span_id) || !IsLowerHex(flags)) {
    return std::nullopt;
  }
  uint8_t flag_bits = static_cast<uint8_t>(HexValue(flags[0]) << 4 | HexValue(flags[1]));
  if (version == "00") {
    if (header.size() != kTraceParentSize) return std::nullopt;
  } else {
    // A later version may append fields, but only after another '-'.
    if (header.size() > kTraceParentSize && header[kTraceParentSize] != '-') return std::nullopt;
    flag_bits &= kTraceFlagSampled;
  }
  return TraceContext{
      .trace_id = std::string(trace_id), .span_id = std::string(span_id), .flags = flag_bits};
}

std::string FormatTraceParent(const TraceContext& context) {
  std::string header;
  header.reserve(kTraceParentSize);
  header.append("00-").append(context.trace_id).append("-").append(context.span_id).append("-");
  header.push_back(kHexDigits[context.flags >> 4]);
  header.push_back(kHexDigits[context.flags & 0xf]);
  return header;
}

TraceContext NewTraceContext() {
  // Two non-zero halves make a non-zero trace id.
  std::string trace_id;
  trace_id.reserve(kTraceIdSize);
  AppendHex64(RandomNonZero64(), trace_id);
  AppendHex64(RandomNonZero64(), trace_id);
  return TraceContext{
      .trace_id = std::move(trace_id), .span_id = NewSpanId(), .flags = kTraceFlagSampled};
}

TraceContext ChildOf(const TraceContext& parent) {
  return TraceContext{.trace_id = parent.trace_id, .span_id = NewSpanId(), .flags = parent.flags};
}

ScopedTraceContext::ScopedTraceContext(TraceContext context)
    : context_(std::move(context)), previous_(current_context) {
  current_context = &context_;
}

ScopedTraceContext::~ScopedTraceContext() {
  // Anything else means scopes were interleaved or moved across threads, and restoring would
  // leave a dangling current context.
  LOYALTY_CHECK(current_context == &context_);
  current_context = previous_;
}

const TraceContext* CurrentTraceContext() { return current_context; }

}  // namespace loyalty::log
