#include "common/events/listener.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/events/outbox.h"
#include "common/log/log.h"
#include "common/status/error.h"

namespace loyalty::events {
namespace {

// How often the thread looks up from its socket to notice Stop.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);
constexpr absl::Duration kReconnectInitial = absl::Milliseconds(100);
constexpr absl::Duration kReconnectMax = absl::Seconds(10);

}  // namespace

OutboxListener::OutboxListener(pg::ConnectionOptions options)
    : options_(std::move(options)), thread_([this] { Run(); }) {}

OutboxListener::~OutboxListener() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

uint64_t OutboxListener::version() const {
  absl::MutexLock lock(&mutex_);
  return version_;
}

uint64_t OutboxListener::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mutex_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return version_ != seen || stopping_;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return version_;
}

bool OutboxListener::listening() const {
  absl::MutexLock lock(&mutex_);
  return listening_;
}

bool OutboxListener::WaitUntilListening(absl::Duration timeout) const {
  absl::MutexLock lock(&mutex_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return listening_; };
  return mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

void OutboxListener::Bump() {
  absl::MutexLock lock(&mutex_);
  ++version_;
}

void OutboxListener::Run() {
  absl::Duration backoff = kReconnectInitial;
  std::unique_ptr<pg::Connection> connection;
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) return;
    }
    if (connection == nullptr) {
      absl::StatusOr<std::unique_ptr<pg::Connection>> opened = pg::Connection::Open(options_);
      absl::Status status = opened.status();
      if (opened.ok()) {
        status = (*opened)->ExecuteScript("outbox_listen", "LISTEN loyalty_outbox").status();
      }
      if (!status.ok()) {
        log::Warning("outbox listener cannot listen", {{"error", StatusSummary(status)}});
        absl::MutexLock lock(&mutex_);
        mutex_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
        backoff = std::min(backoff * 2, kReconnectMax);
        continue;
      }
      connection = *std::move(opened);
      backoff = kReconnectInitial;
      {
        absl::MutexLock lock(&mutex_);
        listening_ = true;
        ++version_;  // Anything committed while nobody listened is read now.
      }
    }
    absl::StatusOr<std::vector<pg::Notification>> notifications =
        connection->WaitForNotifications(kWaitSlice);
    if (!notifications.ok()) {
      log::Warning("outbox listener lost its connection",
                   {{"error", StatusSummary(notifications.status())}});
      connection.reset();
      absl::MutexLock lock(&mutex_);
      listening_ = false;
      continue;
    }
    const bool ours = std::any_of(
        notifications->begin(), notifications->end(), [this](const pg::Notification& n) {
          return n.channel == kNotifyChannel && n.payload == options_.schema;
        });
    if (ours) Bump();
  }
}

}  // namespace loyalty::events
