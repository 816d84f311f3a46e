#pragma once

// The ledger rows every batched write shares (purchases, holds): the entries of many postings
// and the balance changes they make, summed per member, each written with one statement over
// whole columns.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "common/pg/array.h"
#include "common/pg/connection.h"
#include "points-svc/domain/ledger.h"

namespace loyalty::points {

// ledger_entries rows of many postings (kInsertEntriesBatch).
class EntryColumns {
 public:
  // The entries of `posting`, ledger transaction `txn_id` of `program_id`.
  void Add(const std::string& program_id, int64_t txn_id, const Posting& posting);
  bool empty() const { return programs_.size() == 0; }
  pg::Statement Insert() const;

 private:
  pg::ArrayLiteral programs_, txn_ids_, owners_, accounts_, amounts_;
};

// Balance changes summed per member, so each balance row is updated once (kApplyBalanceDeltas),
// in (program, member) order.
class BalanceDeltas {
 public:
  // What `posting` changes in `member_id`'s balance, and the lifetime points it earned.
  void Add(const std::string& program_id, const std::string& member_id, const Posting& posting,
           int64_t earned = 0);
  pg::Statement Apply() const;

 private:
  std::map<std::pair<std::string, std::string>, std::pair<BalanceDelta, int64_t>> deltas_;
};

}  // namespace loyalty::points
