#include "common/events/event_stream_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/events/outbox.h"
#include "common/rpc/unary.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/status/macros.h"

namespace loyalty::events {
namespace {

constexpr std::string_view kErrorDomain = "events.loyalty";
constexpr std::string_view kMethod = "Subscribe";
constexpr int kEventsPerMessageMax = 100;
constexpr int kTypesMax = 32;
constexpr size_t kNameLengthMax = 128;
// Streams check for cancellation (client gone, server draining) at least this often.
constexpr absl::Duration kCancelCheck = absl::Milliseconds(200);

// 1..kNameLengthMax characters of a-z (and A-Z when `upper_case`), 0-9, '.', '_' and '-'.
bool IsName(const std::string& name, bool upper_case) {
  if (name.empty() || name.size() > kNameLengthMax) return false;
  return std::all_of(name.begin(), name.end(), [upper_case](char c) {
    return (c >= 'a' && c <= 'z') || (upper_case && c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

absl::Status Validate(const v1::SubscribeRequest& request) {
  if (!IsName(request.consumer(), /*upper_case=*/false)) {
    return InvalidField("consumer", "INVALID_CONSUMER",
                        "must be 1-128 characters of a-z, 0-9, '.', '_' and '-'");
  }
  if (request.after_sequence() < 0) {
    return InvalidField("after_sequence", "INVALID_SEQUENCE", "must not be negative");
  }
  if (request.types_size() > kTypesMax) {
    return InvalidField("types", "TOO_MANY_TYPES", absl::StrCat("at most ", kTypesMax));
  }
  for (const std::string& type : request.types()) {
    if (!IsName(type, /*upper_case=*/true)) {
      return InvalidField("types", "INVALID_EVENT_TYPE", "a full proto message name");
    }
  }
  return absl::OkStatus();
}

}  // namespace

EventStreamServer::EventStreamServer(pg::Pool& pool, const OutboxListener& listener,
                                     const Clock& clock, EventStreamOptions options)
    : pool_(pool), listener_(listener), clock_(clock), options_(std::move(options)) {
  LOYALTY_CHECK(options_.page_size >= 1 && options_.page_size <= kPageSizeMax);
  LOYALTY_CHECK(options_.max_subscribers >= 1);
  LOYALTY_CHECK(options_.stream_lifetime > absl::ZeroDuration());
  LOYALTY_CHECK(options_.poll_interval > absl::ZeroDuration());
  LOYALTY_CHECK(options_.scan_max >= options_.page_size);
}

int EventStreamServer::subscribers() const {
  absl::MutexLock lock(&mutex_);
  return subscribers_;
}

grpc::Status EventStreamServer::Subscribe(grpc::ServerContext* context,
                                          const v1::SubscribeRequest* request,
                                          grpc::ServerWriter<v1::SubscribeResponse>* writer) {
  log::ScopedTraceContext trace(rpc::TraceContextFor(*context));
  if (absl::Status valid = Validate(*request); !valid.ok()) {
    return ToGrpcStatus(valid, kErrorDomain);
  }
  {
    absl::MutexLock lock(&mutex_);
    if (subscribers_ >= options_.max_subscribers) {
      return ToGrpcStatus(
          ErrorWithReason(absl::StatusCode::kResourceExhausted, "TOO_MANY_SUBSCRIBERS",
                          absl::StrCat("already streaming to ", options_.max_subscribers,
                                       " subscribers; retry later")),
          kErrorDomain);
    }
    ++subscribers_;
  }
  grpc::Status status = Stream(*context, *request, *writer);
  absl::MutexLock lock(&mutex_);
  --subscribers_;
  return status;
}

grpc::Status EventStreamServer::Stream(grpc::ServerContext& context,
                                       const v1::SubscribeRequest& request,
                                       grpc::ServerWriter<v1::SubscribeResponse>& writer) {
  auto fail = [](const absl::Status& status) {
    rpc::LogFailure(kMethod, status);
    return ToGrpcStatus(status, kErrorDomain);
  };
  // Stream timing is transport mechanics and runs on real time; the clock dates registrations.
  const absl::Time end = absl::Now() + options_.stream_lifetime;
  {
    absl::StatusOr<pg::PooledConnection> connection = pool_.Acquire();
    absl::Status registered = connection.status();
    if (registered.ok()) {
      registered = RegisterConsumer(**connection, request.consumer(), request.after_sequence(),
                                    clock_.Now());
    }
    if (!registered.ok()) return fail(registered);
  }
  PageRequest page_request{.after_sequence = request.after_sequence(),
                           .types = {request.types().begin(), request.types().end()},
                           .limit = options_.page_size,
                           .scan_max = options_.scan_max};
  absl::Time last_sent = absl::InfinitePast();
  while (true) {
    if (context.IsCancelled()) return grpc::Status::CANCELLED;
    const absl::Time now = absl::Now();
    if (now >= end) return grpc::Status::OK;
    // Read the version first: a commit after it wakes the wait below even if this page missed it.
    const uint64_t seen = listener_.version();
    absl::StatusOr<Page> page = [&]() -> absl::StatusOr<Page> {
      LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
      return ReadPage(*connection, page_request);
    }();
    if (!page.ok()) return fail(page.status());
    const bool moved = page->scanned_sequence > page_request.after_sequence;
    if (!page->events.empty() || moved || now - last_sent >= options_.poll_interval) {
      const size_t count = page->events.size();
      size_t next = 0;
      do {
        v1::SubscribeResponse response;
        const size_t stop = std::min(count, next + kEventsPerMessageMax);
        for (; next < stop; ++next) *response.add_events() = std::move(page->events[next]);
        response.set_scanned_sequence(next < count ? response.events().rbegin()->sequence()
                                                   : page->scanned_sequence);
        response.set_head_sequence(page->head_sequence);
        if (!writer.Write(response)) return grpc::Status::CANCELLED;  // The client went away.
      } while (next < count);
      last_sent = now;
    }
    page_request.after_sequence = page->scanned_sequence;
    if (page->more) continue;
    // Caught up: wait for a commit, the fallback poll or the end of the stream, looking up for
    // cancellation in between.
    const absl::Time wake = std::min(absl::Now() + options_.poll_interval, end);
    uint64_t version = seen;
    while (version == seen && !context.IsCancelled()) {
      const absl::Duration left = wake - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      version = listener_.WaitForChange(seen, std::min(left, kCancelCheck));
    }
  }
}

}  // namespace loyalty::events
