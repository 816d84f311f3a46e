#pragma once

// The birthday job: members with a birthday today (UTC) get points-svc's BIRTHDAY activity once
// per year. A daily round is enough; it runs more often so a round that points-svc refused for a
// while (UNAVAILABLE, overload) is finished later the same day.
//
// Exactly once per member and year, twice over: points-svc's activity is idempotent by its
// request_id ("birthday-<member>-<year>") and unique per reference (the year), and a row in
// `birthday_awards` settles the year here, so a settled member is not asked again. Members born
// on 29 February celebrate on the 28th in other years. Suspended members get nothing.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pg/pool.h"
#include "grpcpp/channel.h"
#include "loyalty/points/v1/points_service.grpc.pb.h"

namespace loyalty::members {

// Members asked about per round at most, and per page read.
inline constexpr int kBirthdayRoundMax = 5000;
inline constexpr int kBirthdayPageSize = 200;

class BirthdayAwarder {
 public:
  // `pool`, `clock` and `points` (a channel to points-svc) must outlive the awarder; each call to
  // points-svc gets `deadline`.
  BirthdayAwarder(pg::Pool& pool, const Clock& clock, std::shared_ptr<grpc::Channel> points,
                  absl::Duration deadline);

  // One round: asks points-svc about up to `limit` (1..kBirthdayRoundMax) members whose birthday
  // is today and whose year is not settled, and settles each answered one. Returns how many were
  // settled; stops at the first call that fails for a reason that may pass (UNAVAILABLE and the
  // like) and returns that error, leaving the rest for the next round.
  absl::StatusOr<int> RunOnce(int limit);

 private:
  pg::Pool& pool_;
  const Clock& clock_;
  std::unique_ptr<points::v1::PointsService::Stub> points_;
  const absl::Duration deadline_;
};

}  // namespace loyalty::members
