#pragma once

// RecordPurchase's write path with group commit (DESIGN.md section 8). The handler checks a
// purchase and resolves its member, then queues it here; writer threads take what is queued and
// write each batch in ONE transaction with set-based statements (storage/purchase_batch_store.h):
// idempotency keys, balance locks, caps, ledger transactions and entries, lots or pending
// credits, purchases, answers. Every caller gets exactly the answer (and the stored idempotent
// answer) a transaction of its own would have given:
//   - a batch holds at most one purchase per member, so caps and balances are read once and
//     each answer's balance is the member's balance right after its purchase;
//   - a purchase whose key or order id is already taken gets its replay or error and writes
//     nothing, without failing the others;
//   - when the shared transaction fails anyway (say, the same order id raced in from another
//     batch), each purchase is written again alone, so one bad purchase cannot fail its batch.

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/batch/group_commit.h"
#include "common/idempotency/idempotency.h"
#include "common/pg/pool.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "points-svc/domain/earning.h"
#include "prometheus/registry.h"

namespace loyalty::points {

namespace v1 = ::loyalty::points::v1;

// One checked purchase on its way to the ledger.
struct PurchaseJob {
  v1::RecordPurchaseRequest request;
  Purchase purchase;
  int32_t tier_multiplier_percent = 100;
  idempotency::Call call;
  // Set by the writer.
  absl::StatusOr<v1::RecordPurchaseResponse> result = absl::InternalError("not written");
};

struct PurchaseWriterOptions {
  batch::GroupCommitOptions queue;
  // The longest a caller waits for its batch (then DEADLINE_EXCEEDED; a retry with the same
  // request_id gets the answer).
  absl::Duration wait_max = absl::Seconds(10);
};

class PurchaseWriter {
 public:
  // `pool` must outlive the writer; each writer thread holds one connection while it writes.
  PurchaseWriter(pg::Pool& pool, PurchaseWriterOptions options);
  ~PurchaseWriter();

  using Done = std::function<void(absl::StatusOr<v1::RecordPurchaseResponse>)>;

  // Writes the purchase together with whatever else is queued and returns its answer.
  absl::StatusOr<v1::RecordPurchaseResponse> Record(PurchaseJob job);
  // The same without blocking: `done` gets the answer, on a writer thread once the batch is
  // written, or at once when the queue refuses the purchase (full: RESOURCE_EXHAUSTED).
  void RecordAsync(PurchaseJob job, Done done);

  // Exports, in `registry` (which must outlive the writer):
  //   loyalty_points_purchase_batch_size       histogram of purchases per batch
  //   loyalty_points_purchase_batch_seconds    histogram of the time to write a batch
  //   loyalty_points_purchase_queue            gauge: purchases waiting, after each batch
  //   loyalty_points_purchase_solo_retries_total  purchases written again alone after their
  //                                            batch failed
  void ExportMetrics(prometheus::Registry& registry);

 private:
  struct Metrics;
  // Writes a batch the queue hands over and records it in the metrics.
  void WriteObserved(std::span<const std::shared_ptr<PurchaseJob>> jobs);
  void WriteBatch(std::span<const std::shared_ptr<PurchaseJob>> jobs);

  pg::Pool& pool_;
  const absl::Duration wait_max_;
  std::unique_ptr<Metrics> metrics_owner_;
  std::atomic<Metrics*> metrics_ = nullptr;
  // Last: its destructor drains the queue while the rest is still alive.
  batch::GroupCommitQueue<PurchaseJob> queue_;
};

}  // namespace loyalty::points
