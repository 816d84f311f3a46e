#pragma once

// An in-memory copy of projection rows (members, programs) with the rows' refresh times, so a
// hot path trusts what it saw within the TTL without reading the projection table again. The
// rule is the table's own: a row is trusted until refresh_time + TTL. Bounded: when full it
// forgets everything and refills from the table.
//
// Invalidate forgets a key when an event changed its row, and refuses, from then on, to
// remember a value for it that was read or fetched before the invalidation (a refresh_time
// older than it): a reader that raced the event cannot put the old value back.

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace loyalty {

template <typename Value>
class ProjectionMemory {
 public:
  ProjectionMemory(absl::Duration ttl, size_t max_entries) : ttl_(ttl), max_entries_(max_entries) {}

  struct Copy {
    Value value;
    absl::Time refresh_time;
  };

  // The remembered value and its refresh time, however old (a caller that may answer from a
  // stale copy decides by the time).
  std::optional<Copy> Find(const std::string& key) const {
    absl::MutexLock lock(&mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return Copy{.value = it->second.first, .refresh_time = it->second.second};
  }

  // The remembered value when still fresh at `now`.
  std::optional<Value> Fresh(const std::string& key, absl::Time now) const {
    absl::MutexLock lock(&mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.second + ttl_ <= now) return std::nullopt;
    return it->second.first;
  }

  void Remember(const std::string& key, Value value, absl::Time refresh_time) {
    absl::MutexLock lock(&mutex_);
    auto invalidated = invalidated_.find(key);
    if (invalidated != invalidated_.end() && refresh_time < invalidated->second) return;
    if (entries_.size() >= max_entries_ && !entries_.contains(key)) entries_.clear();
    entries_.insert_or_assign(key, std::make_pair(std::move(value), refresh_time));
  }

  // Forgets `key` and refuses values for it refreshed before `now`. Times compare at the
  // database's precision (microseconds): the row the event wrote with refresh_time `now` reads
  // back truncated, and must still be remembered. The invalidation times are bounded like the
  // entries: when full they are forgotten, which reopens only the race of a read still in flight
  // at that moment.
  void Invalidate(const std::string& key, absl::Time now) {
    absl::MutexLock lock(&mutex_);
    entries_.erase(key);
    if (invalidated_.size() >= max_entries_ && !invalidated_.contains(key)) invalidated_.clear();
    invalidated_.insert_or_assign(key, absl::FromUnixMicros(absl::ToUnixMicros(now)));
  }

 private:
  const absl::Duration ttl_;
  const size_t max_entries_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, std::pair<Value, absl::Time>> entries_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, absl::Time> invalidated_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace loyalty
