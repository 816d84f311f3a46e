#pragma once

// The mobile app's wallet view, GET /v1/programs/{program}/members/{member}/wallet: one answer
// assembled from every service, called concurrently.
//
// Each service contributes a WalletPart: members-svc gives `member` and `tierStatus`, points-svc
// gives `balance` (available, pending, held, lifetime earned, next expiries), rewards-svc gives
// `affordableRewards` and `openVouchers`. A part whose service is down or slow (or configured
// `absent`) is listed in `partial`, and the rest still comes back (200). A part that says the
// request itself is wrong (NOT_FOUND for a member that does not exist, INVALID_ARGUMENT) decides
// the whole answer, since the wallet of a member that does not exist is not a partial success. Only
// when every part failed is the answer an error (503).
//
//   {"member": {...}, "tierStatus": {...}, "balance": {...}, "affordableRewards": [...],
//    "openVouchers": [...], "partial": ["points"]}

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "gateway/upstream/upstreams.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace loyalty::gateway {

struct WalletQuery {
  std::string program;
  std::string member;
  UpstreamCallOptions call;
};

struct WalletPartResult {
  // The part's name ("members"): what `partial` lists when it fails.
  std::string part;
  // OK, or why the part failed (as the upstream said it).
  grpc::Status status;
  // The upstream that failed, for the error body.
  std::string upstream;
  // The service is not deployed: no call was made (and no upstream error is counted).
  bool absent = false;
  // Top-level JSON keys of the wallet and the message each holds.
  std::vector<std::pair<std::string, std::shared_ptr<const google::protobuf::Message>>> fields;
  // Top-level JSON keys of the wallet holding arrays, and their elements; after `fields`.
  std::vector<std::pair<std::string, std::vector<std::shared_ptr<const google::protobuf::Message>>>>
      lists;
};

class WalletPart {
 public:
  virtual ~WalletPart() = default;
  virtual std::string_view name() const = 0;
  // Fetches the part; `done` runs exactly once, on any thread.
  virtual void Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) = 0;
};

// A service that is not deployed (or not yet written): always missing.
class AbsentWalletPart final : public WalletPart {
 public:
  explicit AbsentWalletPart(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  void Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) override;

 private:
  std::string name_;
};

// members-svc: GetMember and GetTierStatus, concurrently.
class MembersWalletPart final : public WalletPart {
 public:
  // `upstreams` must outlive the part and have "members".
  explicit MembersWalletPart(Upstreams& upstreams) : upstreams_(upstreams) {}
  std::string_view name() const override { return "members"; }
  void Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) override;

 private:
  Upstreams& upstreams_;
};

// points-svc: GetBalance, as `balance` (the Balance message: available, pending, held, debt,
// lifetimeEarned, nextExpiries, upcomingAvailable).
class PointsWalletPart final : public WalletPart {
 public:
  // `upstreams` must outlive the part and have "points".
  explicit PointsWalletPart(Upstreams& upstreams) : upstreams_(upstreams) {}
  std::string_view name() const override { return "points"; }
  void Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) override;

 private:
  Upstreams& upstreams_;
};

// rewards-svc, two calls at once: ListRewards for the member (active rewards, cheapest first,
// each with the member's eligibility), of which `affordableRewards` keeps the redeemable ones; and
// ListRedemptions, of which `openVouchers` keeps the redemptions whose voucher is still usable
// (ACTIVE and not expired at the clock's now), newest first. Each looks at one page of
// kWalletRewardsPageSize: the cheapest rewards are the affordable ones, and open vouchers are
// among the newest redemptions, so the page bounds the work without hiding what matters.
class RewardsWalletPart final : public WalletPart {
 public:
  static constexpr int kWalletRewardsPageSize = 100;

  // `upstreams` (with "rewards") and `clock` must outlive the part.
  RewardsWalletPart(Upstreams& upstreams, const Clock& clock)
      : upstreams_(upstreams), clock_(clock) {}
  std::string_view name() const override { return "rewards"; }
  void Fetch(const WalletQuery& query, std::function<void(WalletPartResult)> done) override;

 private:
  Upstreams& upstreams_;
  const Clock& clock_;
};

// Whether a part failing with `code` only makes the wallet partial (the service is down, slow,
// overloaded or broken) rather than deciding the answer (the request is wrong).
bool IsPartialFailure(grpc::StatusCode code);

struct WalletAnswer {
  // OK: `json` is the wallet. Otherwise the failure to answer with: the first deciding part
  // failure, or UNAVAILABLE when every part failed.
  grpc::Status status;
  std::string upstream;
  std::string json;
};

// Combines the parts' results (in the order the parts were configured) into the answer.
WalletAnswer AssembleWallet(const std::vector<WalletPartResult>& results);

}  // namespace loyalty::gateway
