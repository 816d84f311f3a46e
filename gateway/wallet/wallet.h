#pragma once

// The mobile app's wallet view, GET /v1/programs/{program}/members/{member}/wallet: one answer
// assembled from every service, called concurrently.
//
// Each service contributes a WalletPart: members-svc gives `member` and `tierStatus`, points-svc
// gives `balance` (available, pending, held, lifetime earned, next expiries). rewards-svc
// (affordable rewards, open vouchers) plugs in as a part when it exists, and until then its absent
// part puts "rewards" in the answer's `partial` list. A part whose service is down or slow (or
// configured `absent`) is listed in `partial` too, and
// the rest still comes back (200). A part that says the request itself is wrong (NOT_FOUND for a
// member that does not exist, INVALID_ARGUMENT) decides the whole answer, since the wallet of a
// member that does not exist is not a partial success. Only when every part failed is the answer
// an error (503).
//
//   {"member": {...}, "tierStatus": {...}, "balance": {...}, "partial": ["rewards"]}

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
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
