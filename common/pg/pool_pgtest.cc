// Pool and transaction behaviour against the real PostgreSQL that scripts/test starts.
#include <thread>

#include "common/check.h"
#include "common/pg/pool.h"
#include "common/status/error.h"
#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "gtest/gtest.h"

namespace loyalty::pg {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using ::loyalty::testkit::TestSchema;

constexpr Query kCreateTable{"t_create",
                             "CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL "
                             "CHECK (value >= 0))"};
constexpr Query kInsert{"t_insert", "INSERT INTO counters (id, value) VALUES ($1, $2)"};
constexpr Query kSelect{"t_select", "SELECT value FROM counters WHERE id = $1"};
constexpr Query kIncrement{"t_increment", "UPDATE counters SET value = value + 1 WHERE id = $1"};
constexpr Query kSleep{"t_sleep", "SELECT pg_sleep($1)"};
constexpr Query kShowTimeout{"t_show_timeout", "SHOW statement_timeout"};
constexpr Query kBadSql{"t_bad", "SELECT * FROM no_such_table"};

std::unique_ptr<TestSchema> NewSchema() {
  auto schema = TestSchema::Create("pool");
  LOYALTY_CHECK(schema.ok());
  return *std::move(schema);
}

TEST(Pool, ExecutesPreparedQueriesWithTypedResults) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(2);
  auto connection = pool->Acquire();
  ASSERT_THAT(connection, IsOk());
  ASSERT_THAT((*connection)->ExecuteScript("create_schema", "CREATE SCHEMA " + schema->schema()),
              IsOk());
  ASSERT_THAT((*connection)->Execute(kCreateTable), IsOk());
  ASSERT_THAT((*connection)->Execute(kInsert, Params().Add(int64_t{1}).Add(int64_t{41})), IsOk());
  auto result = (*connection)->Execute(kSelect, Params().Add(int64_t{1}));
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->rows(), 1);
  EXPECT_EQ(result->Int64(0, "value"), 41);
}

constexpr Query kNamedColumns{"t_named_columns",
                              "SELECT 1 AS first, 2 AS \"Mixed\", 3 AS first, 4 AS lower_case"};

TEST(Result, ColumnsAreFoundByNameAsPQfnumberFindsThem) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  auto connection = pool->Acquire();
  ASSERT_THAT(connection, IsOk());
  auto result = (*connection)->Execute(kNamedColumns);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->Column("first"), 0);  // The first of two columns with that name.
  EXPECT_EQ(result->Column("lower_case"), 3);
  EXPECT_EQ(result->Int64(0, "lower_case"), 4);
  // An exact name, and PQfnumber's forms: a quoted name keeps its case, an unquoted one folds.
  EXPECT_EQ(result->Column("Mixed"), 1);
  EXPECT_EQ(result->Column("\"Mixed\""), 1);
  EXPECT_EQ(result->Column("LOWER_CASE"), 3);
}

TEST(Pool, UniqueViolationIsAlreadyExistsAndCheckIsFailedPrecondition) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  auto connection = pool->Acquire();
  ASSERT_THAT((*connection)->ExecuteScript("create_schema", "CREATE SCHEMA " + schema->schema()),
              IsOk());
  ASSERT_THAT((*connection)->Execute(kCreateTable), IsOk());
  ASSERT_THAT((*connection)->Execute(kInsert, Params().Add(int64_t{1}).Add(int64_t{0})), IsOk());
  EXPECT_THAT((*connection)->Execute(kInsert, Params().Add(int64_t{1}).Add(int64_t{0})),
              StatusIs(absl::StatusCode::kAlreadyExists, "UNIQUE_VIOLATION"));
  EXPECT_THAT((*connection)->Execute(kInsert, Params().Add(int64_t{2}).Add(int64_t{-1})),
              StatusIs(absl::StatusCode::kFailedPrecondition, "CONSTRAINT_VIOLATION"));
  EXPECT_THAT((*connection)->Execute(kBadSql),
              StatusIs(absl::StatusCode::kInternal, "DATABASE_ERROR"));
}

TEST(Pool, EveryConnectionHasTheConfiguredStatementTimeout) {
  auto schema = NewSchema();
  ConnectionOptions options = schema->connection_options();
  options.statement_timeout_ms = 200;
  auto pool = Pool::Create({.connection = options, .size = 1});
  ASSERT_THAT(pool, IsOk());
  auto connection = (*pool)->Acquire();
  ASSERT_THAT(connection, IsOk());
  auto shown = (*connection)->Execute(kShowTimeout);
  ASSERT_THAT(shown, IsOk());
  EXPECT_EQ(shown->String(0, 0), "200ms");
  EXPECT_THAT((*connection)->Execute(kSleep, Params().Add("2")),
              StatusIs(absl::StatusCode::kDeadlineExceeded, "STATEMENT_TIMEOUT"));
}

TEST(Pool, AcquireBeyondSizeFailsWithPoolExhaustedAfterTimeout) {
  auto schema = NewSchema();
  auto pool = Pool::Create({.connection = schema->connection_options(),
                            .size = 1,
                            .acquire_timeout = absl::Milliseconds(50)});
  ASSERT_THAT(pool, IsOk());
  auto first = (*pool)->Acquire();
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT((*pool)->Acquire(), StatusIs(absl::StatusCode::kUnavailable, "POOL_EXHAUSTED"));
  EXPECT_EQ((*pool)->open_connections(), 1);
}

TEST(Pool, UnreachableDatabaseIsUnavailable) {
  ConnectionOptions options{.conninfo = "host=127.0.0.1 port=1 dbname=x",
                            .schema = "public",
                            .connect_timeout_seconds = 2};
  auto pool = Pool::Create({.connection = options, .size = 1});
  ASSERT_THAT(pool, IsOk());
  EXPECT_THAT((*pool)->Acquire(), StatusIs(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE"));
  EXPECT_EQ((*pool)->open_connections(), 0);
}

TEST(Pool, InvalidSizeIsRejected) {
  EXPECT_THAT(Pool::Create({.size = 0}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(InTransaction, FailedBodyRollsBackEverything) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(2);
  ASSERT_THAT(pool->InTransaction([&](Connection& c) {
    if (auto s = c.ExecuteScript("create_schema", "CREATE SCHEMA " + schema->schema()); !s.ok()) {
      return s.status();
    }
    if (auto s = c.Execute(kCreateTable); !s.ok()) return s.status();
    return c.Execute(kInsert, Params().Add(int64_t{1}).Add(int64_t{0})).status();
  }),
              IsOk());
  absl::Status status = pool->InTransaction([](Connection& c) {
    if (auto s = c.Execute(kIncrement, Params().Add(int64_t{1})); !s.ok()) return s.status();
    return absl::FailedPreconditionError("business rule says no");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition));
  auto connection = pool->Acquire();
  auto value = (*connection)->Execute(kSelect, Params().Add(int64_t{1}));
  ASSERT_THAT(value, IsOk());
  EXPECT_EQ(value->Int64(0, 0), 0);
}

TEST(Pipeline, RunsStatementsInOrderAndStopsAtTheFirstError) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  auto connection = pool->Acquire();
  ASSERT_THAT(connection, IsOk());
  ASSERT_THAT((*connection)->ExecuteScript("create_schema", "CREATE SCHEMA " + schema->schema()),
              IsOk());
  ASSERT_THAT((*connection)->Execute(kCreateTable), IsOk());

  const Statement filled[] = {{&kInsert, Params().Add(int64_t{1}).Add(int64_t{5})},
                              {&kIncrement, Params().Add(int64_t{1})},
                              {&kSelect, Params().Add(int64_t{1})}};
  auto results = (*connection)->ExecutePipeline(filled);
  ASSERT_THAT(results, IsOk());
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[1].affected_rows(), 1);
  EXPECT_EQ((*results)[2].Int64(0, 0), 6);  // Saw the insert and the increment before it.

  // The duplicate key fails; the increment after it never runs.
  const Statement failing[] = {{&kInsert, Params().Add(int64_t{1}).Add(int64_t{0})},
                               {&kIncrement, Params().Add(int64_t{1})}};
  EXPECT_THAT((*connection)->ExecutePipeline(failing), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE((*connection)->broken());
  auto value = (*connection)->Execute(kSelect, Params().Add(int64_t{1}));
  ASSERT_THAT(value, IsOk());
  EXPECT_EQ(value->Int64(0, 0), 6);
  EXPECT_THAT((*connection)->ExecutePipeline({}), IsOk());
}

TEST(InTransaction, LocalSettingsHoldForTheTransactionOnly) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  constexpr Query kShowHashJoin{"t_show_hashjoin", "SELECT current_setting('enable_hashjoin')"};
  std::string inside;
  ASSERT_THAT(pool->InTransaction({.local_settings = "SET LOCAL enable_hashjoin = off"},
                                  [&](Connection& c) -> absl::Status {
                                    auto shown = c.Execute(kShowHashJoin);
                                    if (!shown.ok()) return shown.status();
                                    inside = shown->String(0, 0);
                                    return absl::OkStatus();
                                  }),
              IsOk());
  EXPECT_EQ(inside, "off");
  auto connection = pool->Acquire();  // The one connection, after COMMIT.
  ASSERT_THAT(connection, IsOk());
  auto after = (*connection)->Execute(kShowHashJoin);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->String(0, 0), "on");
}

// Creates the test schema with counter 1 at `value`.
void CreateCounter(TestSchema& schema, Pool& pool, int64_t value) {
  ASSERT_THAT(pool.InTransaction([&](Connection& c) {
    if (auto s = c.ExecuteScript("create_schema", "CREATE SCHEMA " + schema.schema()); !s.ok()) {
      return s.status();
    }
    if (auto s = c.Execute(kCreateTable); !s.ok()) return s.status();
    return c.Execute(kInsert, Params().Add(int64_t{1}).Add(value)).status();
  }),
              IsOk());
}

int64_t Counter(Pool& pool, int64_t id) {
  auto connection = pool.Acquire();
  LOYALTY_CHECK(connection.ok());
  auto value = (*connection)->Execute(kSelect, Params().Add(id));
  LOYALTY_CHECK(value.ok());
  return value->rows() == 0 ? -1 : value->Int64(0, 0);
}

// Concurrent increments under SERIALIZABLE conflict; the bounded retry makes every one land.
TEST(InTransaction, RetriesSerializationFailuresUntilEveryIncrementCommits) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(4);
  CreateCounter(*schema, *pool, 0);
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 25;
  std::atomic<int> attempts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        absl::Status status = pool->InTransaction(
            {.isolation = Isolation::kSerializable, .max_attempts = 10}, [&](Connection& c) {
              ++attempts;
              auto read = c.Execute(kSelect, Params().Add(int64_t{1}));
              if (!read.ok()) return read.status();
              return c.Execute(kIncrement, Params().Add(int64_t{1})).status();
            });
        if (!status.ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto connection = pool->Acquire();
  auto value = (*connection)->Execute(kSelect, Params().Add(int64_t{1}));
  ASSERT_THAT(value, IsOk());
  EXPECT_EQ(value->Int64(0, 0) + failures.load(), kThreads * kIncrementsPerThread);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(attempts.load(), kThreads * kIncrementsPerThread);
}

TEST(InPipelinedTransaction, BeginsWithTheFirstPipelineAndCommitsWithTheLast) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  CreateCounter(*schema, *pool, 0);
  constexpr Query kTransactionState{
      "t_txn_state", "SELECT current_setting('enable_hashjoin'), pg_current_xact_id()::text"};
  std::string hashjoin, first_xid, last_xid;
  const Statement first[] = {{&kIncrement, Params().Add(int64_t{1})}, {&kTransactionState, {}}};
  const Statement last[] = {{&kInsert, Params().Add(int64_t{2}).Add(int64_t{7})},
                            {&kTransactionState, {}}};
  ASSERT_THAT(pool->InPipelinedTransaction(
                  {.local_settings = "SET LOCAL enable_hashjoin = off; SET LOCAL work_mem = '8MB'"},
                  [&](PipelinedTransaction& transaction) -> absl::Status {
                    auto read = transaction.Execute(first);
                    if (!read.ok()) return read.status();
                    hashjoin = (*read)[1].String(0, 0);
                    first_xid = (*read)[1].String(0, 1);
                    auto written = transaction.ExecuteAndCommit(last);
                    if (!written.ok()) return written.status();
                    last_xid = (*written)[1].String(0, 1);
                    return absl::OkStatus();
                  }),
              IsOk());
  EXPECT_EQ(hashjoin, "off");
  EXPECT_EQ(first_xid, last_xid);  // One transaction across both pipelines.
  EXPECT_EQ(Counter(*pool, 1), 1);
  EXPECT_EQ(Counter(*pool, 2), 7);
  auto connection = pool->Acquire();  // The one connection: committed, settings gone.
  ASSERT_THAT(connection, IsOk());
  EXPECT_FALSE((*connection)->in_transaction());
  auto after = (*connection)->Execute(kTransactionState);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->String(0, 0), "on");
}

// What a helper runs on the begun transaction's connection between pipelines is part of it:
// committed with it, or rolled back with it.
TEST(InPipelinedTransaction, StatementsOnTheBegunConnectionArePartOfTheTransaction) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  CreateCounter(*schema, *pool, 0);
  const Statement first[] = {{&kIncrement, Params().Add(int64_t{1})}};
  const Statement last[] = {{&kIncrement, Params().Add(int64_t{1})}};
  for (bool fail : {true, false}) {
    absl::Status status =
        pool->InPipelinedTransaction({}, [&](PipelinedTransaction& transaction) -> absl::Status {
          if (auto read = transaction.Execute(first); !read.ok()) return read.status();
          Connection& connection = transaction.begun_connection();
          EXPECT_TRUE(connection.in_transaction());
          auto inserted = connection.Execute(kInsert, Params().Add(int64_t{3}).Add(int64_t{5}));
          if (!inserted.ok()) return inserted.status();
          if (fail) return absl::FailedPreconditionError("the body gives up");
          return transaction.ExecuteAndCommit(last).status();
        });
    EXPECT_EQ(status.ok(), !fail);
    EXPECT_EQ(Counter(*pool, 1), fail ? 0 : 2) << fail;
    EXPECT_EQ(Counter(*pool, 3), fail ? -1 : 5) << fail;  // -1: no row.
  }
}

TEST(InPipelinedTransaction, AFailedStatementSkipsCommitAndRollsBackEarlierPipelines) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(1);
  CreateCounter(*schema, *pool, 0);
  const Statement increment[] = {{&kIncrement, Params().Add(int64_t{1})}};
  const Statement duplicate[] = {{&kInsert, Params().Add(int64_t{2}).Add(int64_t{1})},
                                 {&kInsert, Params().Add(int64_t{1}).Add(int64_t{0})}};
  EXPECT_THAT(
      pool->InPipelinedTransaction({},
                                   [&](PipelinedTransaction& transaction) -> absl::Status {
                                     auto read = transaction.Execute(increment);
                                     if (!read.ok()) return read.status();
                                     return transaction.ExecuteAndCommit(duplicate).status();
                                   }),
      StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Counter(*pool, 1), 0);
  EXPECT_EQ(Counter(*pool, 2), -1);

  // A body that ignores the failure still gets it, and nothing is committed.
  EXPECT_THAT(pool->InPipelinedTransaction({},
                                           [&](PipelinedTransaction& transaction) -> absl::Status {
                                             (void)transaction.Execute(duplicate);
                                             return absl::OkStatus();
                                           }),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Counter(*pool, 2), -1);

  // Without ExecuteAndCommit, the pool commits after the body.
  EXPECT_THAT(pool->InPipelinedTransaction({},
                                           [&](PipelinedTransaction& transaction) -> absl::Status {
                                             return transaction.Execute(increment).status();
                                           }),
              IsOk());
  EXPECT_EQ(Counter(*pool, 1), 1);
}

}  // namespace
TEST(AfterCommit, RunsOnceAfterACommitAndNeverForAFailedAttempt) {
  auto schema = NewSchema();
  auto pool = schema->MakePool(2);  // The first callback reads on a second connection.
  CreateCounter(*schema, *pool, 0);
  int ran = 0;
  bool committed_when_run = false;
  auto body = [&](Connection& c) -> absl::Status {
    if (auto s = c.Execute(kIncrement, Params().Add(int64_t{1})); !s.ok()) return s.status();
    c.AfterCommit([&] {
      ++ran;
      committed_when_run = Counter(*pool, 1) == 1;  // Visible to another transaction.
    });
    return absl::OkStatus();
  };
  ASSERT_THAT(pool->InTransaction(body), IsOk());
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(committed_when_run);

  // A failed body, then a retried one: only the attempt that committed runs its callback.
  int attempts = 0;
  EXPECT_THAT(pool->InTransaction([&](Connection& c) -> absl::Status {
    c.AfterCommit([&] { ++ran; });
    return absl::FailedPreconditionError("business rule says no");
  }),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ran, 1);
  ASSERT_THAT(pool->InTransaction({.max_attempts = 3},
                                  [&](Connection& c) -> absl::Status {
                                    c.AfterCommit([&] { ++ran; });
                                    if (++attempts < 3) {
                                      return ErrorWithReason(absl::StatusCode::kAborted,
                                                             "SERIALIZATION_FAILURE", "retry me");
                                    }
                                    return absl::OkStatus();
                                  }),
              IsOk());
  EXPECT_EQ(ran, 2);

  // Pipelined: registered before BEGIN was even sent, run after the COMMIT that rode along.
  const Statement increment[] = {{&kIncrement, Params().Add(int64_t{1})}};
  ASSERT_THAT(
      pool->InPipelinedTransaction({},
                                   [&](PipelinedTransaction& transaction) {
                                     transaction.AfterCommit([&] { ++ran; });
                                     return transaction.ExecuteAndCommit(increment).status();
                                   }),
      IsOk());
  EXPECT_EQ(ran, 3);

  // Outside a transaction block there is nothing to wait for.
  auto connection = pool->Acquire();
  ASSERT_THAT(connection, IsOk());
  (*connection)->AfterCommit([&] { ++ran; });
  EXPECT_EQ(ran, 4);
}

}  // namespace loyalty::pg
