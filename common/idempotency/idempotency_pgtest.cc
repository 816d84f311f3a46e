// Idempotent calls against the real PostgreSQL that scripts/test starts.
#include "common/idempotency/idempotency.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/pg/migrate.h"
#include "common/testkit/message_fill.h"
#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "loyalty/points/v1/points_service.pb.h"
#include "loyalty/rewards/v1/rewards_service.pb.h"

namespace loyalty::idempotency {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;

// The table every service's migrations create (e.g. members-svc/migrations/0003_*.sql).
constexpr pg::Migration kMigrations[] = {
    {1, "0001_idempotency_keys.sql",
     "CREATE TABLE idempotency_keys (scope text NOT NULL, request_id text NOT NULL, "
     "method text NOT NULL, request_hash text NOT NULL, response bytea NOT NULL, "
     "create_time timestamptz NOT NULL, PRIMARY KEY (scope, request_id));"
     "CREATE TABLE effects (n int);"}};
constexpr pg::Query kAddEffect{"t_add_effect", "INSERT INTO effects VALUES (1)"};
constexpr pg::Query kCountEffects{"t_count_effects", "SELECT count(*) FROM effects"};

const absl::Time kT0 = absl::FromUnixSeconds(1'790'000'000);

// How the hash was first computed, on a copy with request_id cleared: stored hashes must still
// match after an upgrade, or a client's retry across it would be refused as a reused key.
std::string HashOfClearedCopy(std::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  copy->GetReflection()->ClearField(copy.get(),
                                    copy->GetDescriptor()->FindFieldByName("request_id"));
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  return pg::MigrationChecksum(
      absl::StrCat(absl::string_view(method.data(), method.size()), "\n", bytes));
}

TEST(RequestHash, IgnoresTheRequestIdAndMatchesHashesStoredBefore) {
  int counter = 0;
  points::v1::RecordPurchaseRequest purchase;
  testkit::Fill(purchase, counter);
  rewards::v1::RedeemRewardRequest redeem;
  testkit::Fill(redeem, counter);
  for (google::protobuf::Message* request :
       std::initializer_list<google::protobuf::Message*>{&purchase, &redeem}) {
    ASSERT_FALSE(request->GetReflection()
                     ->GetString(*request, request->GetDescriptor()->FindFieldByName("request_id"))
                     .empty());
    const std::string hash = RequestHash("svc/Call", *request);
    EXPECT_EQ(hash, HashOfClearedCopy("svc/Call", *request)) << request->GetTypeName();
    std::unique_ptr<google::protobuf::Message> other_key(request->New());
    other_key->CopyFrom(*request);
    other_key->GetReflection()->SetString(
        other_key.get(), other_key->GetDescriptor()->FindFieldByName("request_id"), "other-key");
    EXPECT_EQ(RequestHash("svc/Call", *other_key), hash);
    EXPECT_NE(RequestHash("svc/Other", *request), hash);
  }
  purchase.set_total_minor(purchase.total_minor() + 1);
  EXPECT_NE(RequestHash("svc/Call", purchase), HashOfClearedCopy("svc/Call", redeem));
  EXPECT_EQ(RequestHash("svc/Call", purchase), HashOfClearedCopy("svc/Call", purchase));
}

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto schema = testkit::TestSchema::Create("idem");
    ASSERT_THAT(schema, IsOk());
    schema_ = *std::move(schema);
    pool_ = schema_->MakePool(2);
    auto connection = pool_->Acquire();
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(pg::ApplyMigrations(**connection, kMigrations), IsOk());
  }

  // A call whose effect is one row in `effects`; answers the payload back.
  absl::StatusOr<google::protobuf::StringValue> Run(const std::string& key,
                                                    const std::string& payload, absl::Time now) {
    google::protobuf::StringValue request;
    request.set_value(payload);
    const Call call{.scope = "p",
                    .request_id = key,
                    .method = "test/Run",
                    .request_hash = RequestHash("test/Run", request),
                    .now = now};
    return RunIdempotent<google::protobuf::StringValue>(
        *pool_, call,
        [&](pg::Connection& connection) -> absl::StatusOr<google::protobuf::StringValue> {
          if (auto added = connection.Execute(kAddEffect); !added.ok()) return added.status();
          return request;
        });
  }

  int64_t Effects() {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto count = (*connection)->Execute(kCountEffects);
    LOYALTY_CHECK(count.ok());
    return count->Int64(0, 0);
  }

  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
};

TEST_F(IdempotencyTest, ReplayAnswersTheSameWithoutASecondEffect) {
  ASSERT_THAT(Run("k1", "a", kT0), IsOk());
  auto replay = Run("k1", "a", kT0 + absl::Minutes(1));
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->value(), "a");
  EXPECT_EQ(Effects(), 1);
  EXPECT_THAT(Run("k1", "b", kT0),
              StatusIs(absl::StatusCode::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
  EXPECT_EQ(Effects(), 1);
}

TEST_F(IdempotencyTest, PruningRemovesOnlyKeysOlderThanTheCutoffWithinTheLimit) {
  ASSERT_THAT(Run("old-1", "a", kT0), IsOk());
  ASSERT_THAT(Run("old-2", "a", kT0 + absl::Hours(1)), IsOk());
  ASSERT_THAT(Run("new", "a", kT0 + absl::Hours(24 * 10)), IsOk());
  const absl::Time cutoff = kT0 + absl::Hours(24 * 7);
  auto first = PruneKeys(*pool_, cutoff, 1);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, 1);
  auto rest = PruneKeys(*pool_, cutoff, 100);
  ASSERT_THAT(rest, IsOk());
  EXPECT_EQ(*rest, 1);
  // The recent key still replays; a pruned one runs again (its retention is over).
  ASSERT_THAT(Run("new", "a", kT0 + absl::Hours(24 * 10)), IsOk());
  EXPECT_EQ(Effects(), 3);
  ASSERT_THAT(Run("old-1", "a", kT0 + absl::Hours(24 * 10)), IsOk());
  EXPECT_EQ(Effects(), 4);
}

TEST_F(IdempotencyTest, BatchedKeysAreStoredTogetherAndReplayLikeSingleOnes) {
  ASSERT_THAT(Run("k1", "a", kT0), IsOk());  // Stored by the one-call path.
  google::protobuf::StringValue request;
  request.set_value("b \"quoted\" \\ with\nbytes\x01");
  const Call stored{.scope = "p",
                    .request_id = "k1",
                    .method = "test/Run",
                    .request_hash = RequestHash("test/Run", request),
                    .now = kT0};
  const Call fresh{.scope = "p",
                   .request_id = "k2, with {braces}",
                   .method = "test/Run",
                   .request_hash = RequestHash("test/Run", request),
                   .now = kT0};
  const Call* calls[] = {&fresh, &stored};
  ASSERT_THAT(pool_->InTransaction([&](pg::Connection& connection) -> absl::Status {
    auto found = LockAndFind(connection, calls);
    if (!found.ok()) return found.status();
    EXPECT_EQ(found->size(), 2u);
    EXPECT_FALSE((*found)[0].has_value());
    EXPECT_TRUE((*found)[1].has_value());
    google::protobuf::StringValue replayed;
    // k1 holds the answer to payload "a": another payload reuses the key.
    EXPECT_THAT(Replay(stored, *(*found)[1], replayed),
                StatusIs(absl::StatusCode::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
    const std::pair<const Call*, std::string> answers[] = {{&fresh, request.SerializeAsString()}};
    return StoreAnswers(connection, answers);
  }),
              IsOk());
  // The batched answer replays through the one-call path, bytes intact, without an effect.
  auto replay = RunIdempotent<google::protobuf::StringValue>(
      *pool_, fresh, [&](pg::Connection&) -> absl::StatusOr<google::protobuf::StringValue> {
        return absl::InternalError("the body must not run on a replay");
      });
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->value(), request.value());
  EXPECT_EQ(Effects(), 1);
}

}  // namespace
}  // namespace loyalty::idempotency
