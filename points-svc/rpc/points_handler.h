#pragma once

// points-svc's RPCs as transport-agnostic handlers: proto in, absl::StatusOr<proto> out.
//
// Every change to a member runs in one transaction that first locks the member's balance row,
// so the balance a rule sees is the balance it changes. Mutations by request_id go through
// common/idempotency in the same transaction. Holds are idempotent by hold_id.

#include <memory>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/paging/page_token.h"
#include "common/pg/pool.h"
#include "common/projection_memory.h"
#include "common/refresh_queue.h"
#include "loyalty/events/v1/events.pb.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/domain/earning.h"
#include "points-svc/domain/ledger.h"
#include "points-svc/rpc/balance_reader.h"
#include "points-svc/rpc/member_directory.h"
#include "points-svc/rpc/purchase_writer.h"

namespace loyalty::points {

namespace v1 = ::loyalty::points::v1;

struct PointsHandlerOptions {
  // HMAC key for page tokens (>= 16 bytes).
  std::string page_token_key;
  // How long what members-svc said about a member or program is trusted.
  absl::Duration projection_ttl = absl::Seconds(60);
  // How long past the TTL a known member or program is still answered from at once, while it is
  // refreshed in the background (one refresh per key at a time). An older copy is refreshed
  // before the answer, as is every stale copy when this is zero.
  absl::Duration projection_stale_grace = absl::Minutes(10);
  // Background refreshes waiting at most; past that a stale copy is answered from without one,
  // and the next call for it schedules it again.
  int projection_refreshes_max = 10'000;
  // Group commit of RecordPurchase (rpc/purchase_writer.h).
  PurchaseWriterOptions purchase_writes;
  // Batched reads of GetBalance (rpc/balance_reader.h).
  BalanceReaderOptions balance_reads;
  // Members and programs remembered in memory (besides the projection tables); when full, the
  // memory is cleared and refilled from the tables.
  int projection_cache_max = 100'000;
};

class PointsHandler {
 public:
  // `pool`, `clock` and `directory` must outlive the handler.
  PointsHandler(pg::Pool& pool, const Clock& clock, MemberDirectory& directory,
                PointsHandlerOptions options);

  absl::StatusOr<v1::RecordPurchaseResponse> RecordPurchase(
      const v1::RecordPurchaseRequest& request);
  // RecordPurchase without blocking the calling thread: `done` runs with the answer, at once
  // for a request refused before the ledger, else on a group-commit writer thread.
  void RecordPurchaseAsync(const v1::RecordPurchaseRequest& request, PurchaseWriter::Done done);
  absl::StatusOr<v1::RefundPurchaseResponse> RefundPurchase(
      const v1::RefundPurchaseRequest& request);
  absl::StatusOr<v1::RecordActivityResponse> RecordActivity(
      const v1::RecordActivityRequest& request);
  absl::StatusOr<v1::PreviewPurchaseResponse> PreviewPurchase(
      const v1::PreviewPurchaseRequest& request);
  absl::StatusOr<v1::GetBalanceResponse> GetBalance(const v1::GetBalanceRequest& request);
  absl::StatusOr<v1::ListTransactionsResponse> ListTransactions(
      const v1::ListTransactionsRequest& request);
  absl::StatusOr<v1::AdjustPointsResponse> AdjustPoints(const v1::AdjustPointsRequest& request);
  absl::StatusOr<v1::TransferPointsResponse> TransferPoints(
      const v1::TransferPointsRequest& request);
  absl::StatusOr<v1::GetEarningRulesResponse> GetEarningRules(
      const v1::GetEarningRulesRequest& request);
  absl::StatusOr<v1::UpdateEarningRulesResponse> UpdateEarningRules(
      const v1::UpdateEarningRulesRequest& request);
  absl::StatusOr<v1::GetLeaderboardResponse> GetLeaderboard(
      const v1::GetLeaderboardRequest& request);
  absl::StatusOr<v1::RunExpiryResponse> RunExpiry(const v1::RunExpiryRequest& request);
  absl::StatusOr<v1::CreateHoldResponse> CreateHold(const v1::CreateHoldRequest& request);
  absl::StatusOr<v1::CaptureHoldResponse> CaptureHold(const v1::CaptureHoldRequest& request);
  absl::StatusOr<v1::VoidHoldResponse> VoidHold(const v1::VoidHoldRequest& request);
  absl::StatusOr<v1::RefundHoldResponse> RefundHold(const v1::RefundHoldRequest& request);
  // The batched hold RPCs (rpc/hold_batches.cc): one transaction per call, each hold answered
  // as its single-hold RPC would have answered it alone.
  absl::StatusOr<v1::CreateHoldsResponse> CreateHolds(const v1::CreateHoldsRequest& request);
  absl::StatusOr<v1::CaptureHoldsResponse> CaptureHolds(const v1::CaptureHoldsRequest& request);

  // Background work (main.cc loops; tests call them with a moved clock). Each handles at most
  // `limit` items and returns how many it handled.
  absl::StatusOr<int> ExpireHolds(int limit);
  absl::StatusOr<int> ReleaseDuePending(const std::string& program_id, int limit);
  // Exports points-svc's own metrics (the group commit's, see PurchaseWriter) in `registry`,
  // which must outlive the handler. Once.
  void ExportMetrics(prometheus::Registry& registry) { purchases_->ExportMetrics(registry); }

  // Waits until the background refreshes of stale members and programs scheduled so far are
  // done (tests).
  void WaitForProjectionRefreshes() { projection_refreshes_.Drain(); }

  // One round of all of it: expired holds, then for each known program due pending points and
  // one expiry batch (RunExpiry at now).
  absl::StatusOr<int> Maintain(int limit);

  // Applies one of members-svc's events (rpc/member_events.h) to the member projection inside
  // the consumer's transaction, and forgets this replica's remembered copy of the member, so its
  // next purchase here reads the new row. Another replica keeps its remembered copy until that
  // is `projection_ttl` old (docs/events.md). Errors as ApplyMemberEvent's.
  absl::Status ApplyMemberEvent(pg::Connection& connection, const events::v1::Event& event);

 private:
  struct MemberState {
    int status = 0;
    int32_t tier_multiplier_percent = 100;
  };
  // The member as points-svc knows it: from memory, else from the projection row, else from
  // members-svc. A copy stale by less than the grace is answered from and refreshed in the
  // background.
  absl::StatusOr<MemberState> ResolveMember(const std::string& program_id,
                                            const std::string& member_id);
  // ResolveMember past the memory. With `serve_stale` false (the background refresh) a stale
  // row is always refreshed from members-svc.
  absl::StatusOr<MemberState> LoadMember(const std::string& program_id,
                                         const std::string& member_id, bool serve_stale);
  // The program's currency, the same way.
  absl::StatusOr<std::string> ResolveProgramCurrency(const std::string& program_id);
  absl::StatusOr<std::string> LoadProgramCurrency(const std::string& program_id, bool serve_stale);
  // Whether a copy refreshed at `refresh_time` may be answered from at `now`: yes within the TTL;
  // past it, when `serve_stale` and within the grace, after calling `refresh_later`.
  bool Answerable(absl::Time refresh_time, absl::Time now, bool serve_stale,
                  absl::FunctionRef<void()> refresh_later);
  // Schedules a background refresh (Load... without serving stale), once per key while waiting.
  void RefreshMemberLater(const std::string& program_id, const std::string& member_id);
  void RefreshProgramLater(const std::string& program_id);
  // Validates a purchase (RecordPurchase or PreviewPurchase) against the limits and the
  // program's currency (CURRENCY_MISMATCH).
  template <typename Request>
  absl::StatusOr<Purchase> ParseProgramPurchase(const Request& request, absl::Time now);
  // Checks a purchase and resolves its member and program: what the writer needs.
  absl::StatusOr<PurchaseJob> CheckPurchase(const v1::RecordPurchaseRequest& request);
  // The member must be ACTIVE to earn or spend: FAILED_PRECONDITION MEMBER_SUSPENDED /
  // MEMBER_ERASED otherwise.
  absl::StatusOr<MemberState> RequireActiveMember(const std::string& program_id,
                                                  const std::string& member_id);

  pg::Pool& pool_;
  const Clock& clock_;
  MemberDirectory& directory_;
  PointsHandlerOptions options_;
  paging::PageTokenCodec page_tokens_;
  // The projection rows, remembered so the hot path does not read them on every call.
  ProjectionMemory<MemberState> members_memory_;
  ProjectionMemory<std::string> currencies_memory_;
  // After the memories and the directory it refreshes into; before the writers, which do not
  // use it.
  RefreshQueue projection_refreshes_;
  // Last: its destructor writes what is queued while the rest is still alive.
  std::unique_ptr<PurchaseWriter> purchases_;
  std::unique_ptr<BalanceReader> balance_reads_;
};

}  // namespace loyalty::points
