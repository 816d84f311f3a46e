#include "points-svc/rpc/balance_reader.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "points-svc/rpc/handler_support.h"

namespace loyalty::points {

BalanceReader::BalanceReader(pg::Pool& pool, BalanceReaderOptions options)
    : pool_(pool),
      wait_max_(options.wait_max),
      queue_(options.queue,
             [this](std::span<const std::shared_ptr<Job>> jobs) { ReadBatch(jobs); }) {}

absl::StatusOr<BalanceRead> BalanceReader::Read(const MemberRef& member, absl::Time now) {
  auto job = std::make_shared<Job>(Job{.member = member, .now = now});
  // Reads need no order among themselves, so each gets a key of its own: reads of one member may
  // share a batch (the statement answers each position), rather than waiting one batch each as
  // the queue's per-key order would make them.
  std::string key = absl::StrCat(next_key_.fetch_add(1, std::memory_order_relaxed));
  LOYALTY_RETURN_IF_ERROR(queue_.Run(job, std::move(key), absl::Now() + wait_max_));
  return std::move(job->result);
}

void BalanceReader::ReadBatch(std::span<const std::shared_ptr<Job>> jobs) {
  std::vector<MemberRef> members;
  std::vector<absl::Time> times;
  members.reserve(jobs.size());
  times.reserve(jobs.size());
  for (const std::shared_ptr<Job>& job : jobs) {
    members.push_back(job->member);
    times.push_back(job->now);
  }
  absl::StatusOr<pg::Result> rows = [&]() -> absl::StatusOr<pg::Result> {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    const pg::Statement statement = BalanceViews(members, times, kBalanceDatedRowsMax);
    return connection->Execute(*statement.query, statement.params);
  }();
  if (!rows.ok()) {
    for (const std::shared_ptr<Job>& job : jobs) job->result = rows.status();
    return;
  }
  std::vector<BalanceRead> reads = ParseBalanceViews(*rows, jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->result = std::move(reads[i]);
}

}  // namespace loyalty::points
