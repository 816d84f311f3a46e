#include "common/events/listener.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/events/outbox.h"
#include "common/events/queries.h"
#include "common/log/log.h"
#include "common/status/error.h"

namespace loyalty::events {
namespace {

// How often the thread looks up from its socket to notice Stop.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);
constexpr absl::Duration kReconnectInitial = absl::Milliseconds(100);
constexpr absl::Duration kReconnectMax = absl::Seconds(10);

// The listeners of this process by schema, for OutboxCommitted.
struct Registry {
  absl::Mutex mutex;
  absl::flat_hash_map<std::string, std::vector<OutboxListener*>> listeners ABSL_GUARDED_BY(mutex);
};

Registry& Listeners() {
  static Registry* const registry = new Registry;
  return *registry;
}

}  // namespace

void OutboxCommitted(const std::string& schema) {
  Registry& registry = Listeners();
  absl::MutexLock lock(&registry.mutex);
  auto found = registry.listeners.find(schema);
  if (found == registry.listeners.end()) return;  // No stream to wake in this process.
  for (OutboxListener* listener : found->second) listener->Committed();
}

OutboxListener::OutboxListener(pg::ConnectionOptions options, absl::Duration notify_gap,
                               absl::Duration sweep_interval)
    : options_(std::move(options)), notify_gap_(notify_gap), sweep_interval_(sweep_interval) {
  {
    Registry& registry = Listeners();
    absl::MutexLock lock(&registry.mutex);
    registry.listeners[options_.schema].push_back(this);
  }
  thread_ = std::thread([this] { Run(); });
  notifier_ = std::thread([this] { RunNotifier(); });
}

OutboxListener::~OutboxListener() {
  {
    Registry& registry = Listeners();
    absl::MutexLock lock(&registry.mutex);
    std::vector<OutboxListener*>& same = registry.listeners[options_.schema];
    same.erase(std::remove(same.begin(), same.end(), this), same.end());
    if (same.empty()) registry.listeners.erase(options_.schema);
  }
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
  notifier_.join();
}

void OutboxListener::Committed() {
  absl::MutexLock lock(&mutex_);
  notify_pending_ = true;  // The streams wake once the events have their numbers.
}

uint64_t OutboxListener::notifies_sent() const {
  absl::MutexLock lock(&mutex_);
  return notifies_sent_;
}

uint64_t OutboxListener::events_numbered() const {
  absl::MutexLock lock(&mutex_);
  return events_numbered_;
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
    const int own_pid = notifier_pid_.load();
    const bool ours =
        std::any_of(notifications->begin(), notifications->end(), [&](const pg::Notification& n) {
          return n.channel == kNotifyChannel && n.payload == options_.schema &&
                 n.sender_pid != own_pid;
        });
    if (ours) Bump();
  }
}

void OutboxListener::RunNotifier() {
  absl::Duration backoff = kReconnectInitial;
  std::unique_ptr<pg::Connection> connection;
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
  auto wanted = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return notify_pending_ || stopping_; };
  // After a failure: keep the request and wait before the next try.
  auto retry_later = [&](std::string_view what, const absl::Status& status) {
    log::Warning(what, {{"error", StatusSummary(status)}});
    absl::MutexLock lock(&mutex_);
    notify_pending_ = true;
    mutex_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, kReconnectMax);
  };
  while (true) {
    bool asked = false;
    {
      absl::MutexLock lock(&mutex_);
      // A commit of this process, or the sweep for commits whose process died before numbering.
      mutex_.AwaitWithTimeout(absl::Condition(&wanted), sweep_interval_);
      if (stopping_) return;
      asked = notify_pending_;
      notify_pending_ = false;  // This round covers every commit signalled until now.
    }
    if (connection == nullptr) {
      pg::ConnectionOptions options = options_;
      options.application_name.append("-notify");  // Told apart from the LISTEN session.
      absl::StatusOr<std::unique_ptr<pg::Connection>> opened = pg::Connection::Open(options);
      if (!opened.ok()) {
        retry_later("outbox numberer cannot connect", opened.status());
        continue;
      }
      connection = *std::move(opened);
      notifier_pid_.store(connection->backend_pid());
    }
    absl::StatusOr<int64_t> numbered = NumberCommittedEvents(*connection, /*wait=*/true);
    if (!numbered.ok()) {
      connection.reset();
      retry_later("outbox numberer cannot number events", numbered.status());
      continue;
    }
    backoff = kReconnectInitial;
    // A sweep that found nothing wakes nobody. When asked, the events may have been numbered by a
    // page read of this process in the meantime, whose other streams still need waking.
    if (*numbered == 0 && !asked) continue;
    {
      absl::MutexLock lock(&mutex_);
      events_numbered_ += static_cast<uint64_t>(*numbered);
      ++version_;  // Wakes the streams.
    }
    if (absl::Status sent = connection->Execute(queries::kNotifyOutbox).status(); !sent.ok()) {
      connection.reset();
      retry_later("outbox numberer cannot notify", sent);
      continue;
    }
    backoff = kReconnectInitial;
    absl::MutexLock lock(&mutex_);
    ++notifies_sent_;
    // Commits signalled during the gap share the next round and NOTIFY.
    mutex_.AwaitWithTimeout(absl::Condition(&stopping), notify_gap_);
  }
}

}  // namespace loyalty::events
