// members-svc end to end: a real gRPC server on port 0 in front of the real PostgreSQL that
// scripts/test starts (a fresh schema per test, migrated with the service's own migrations),
// called through the generated stub. Time is a FakeClock, so tier windows move on command.

#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "common/check.h"
#include "common/events/outbox.h"
#include "common/events/producer.h"
#include "common/pg/migrate.h"
#include "common/server/server.h"
#include "common/status/error.h"
#include "common/status/grpc_status.h"
#include "common/testkit/fake_clock.h"
#include "common/testkit/status_matchers.h"
#include "common/testkit/test_schema.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "members-svc/domain/card_number.h"
#include "members-svc/migrations.h"
#include "members-svc/rpc/convert.h"
#include "members-svc/rpc/grpc_service.h"
#include "members-svc/rpc/members_handler.h"

namespace loyalty::members {
namespace {

using ::loyalty::testkit::IsOk;
using ::loyalty::testkit::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using C = absl::StatusCode;

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 1, 15, 12, 0, 0), absl::UTCTimeZone());

class MembersServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto schema = testkit::TestSchema::Create("members");
    ASSERT_THAT(schema, IsOk());
    schema_ = *std::move(schema);
    pool_ = schema_->MakePool(4);
    {
      auto connection = pool_->Acquire();
      ASSERT_THAT(connection, IsOk());
      ASSERT_THAT(pg::ApplyMigrations(**connection, Migrations()), IsOk());
    }
    handler_ = std::make_unique<MembersHandler>(
        *pool_, clock_, MembersHandlerOptions{.page_token_key = "members-test-page-token-key"});
    service_ = std::make_unique<GrpcMembersService>(*handler_);
    auto server = server::GrpcServer::Start({.service_name = "members-svc-test",
                                             .listen_address = "127.0.0.1",
                                             .grpc_port = 0,
                                             .metrics_port = -1},
                                            {service_.get()});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    stub_ = v1::MembersService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
    auto program = CreateProgram("shop", /*grace_days=*/30);
    ASSERT_THAT(program, IsOk());
  }

  // Calls one RPC over the channel; errors come back through FromGrpcStatus, so the assertions
  // below check the wire form (code, ErrorInfo reason, BadRequest) that clients see.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::MembersService::Stub::*rpc)(grpc::ClientContext*,
                                                                              const Request&,
                                                                              Response*),
                                const Request& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Response response;
    grpc::Status status = (stub_.get()->*rpc)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  absl::StatusOr<v1::CreateProgramResponse> CreateProgram(const std::string& id, int grace_days) {
    v1::CreateProgramRequest request;
    request.set_request_id("create-" + id);
    request.mutable_program()->set_id(id);
    request.mutable_program()->set_display_name("Shop Rewards");
    request.mutable_program()->set_currency_code("EUR");
    request.mutable_program()->set_point_value_minor_per_thousand(1000);
    request.mutable_program()->set_downgrade_grace_days(grace_days);
    return Call(&v1::MembersService::Stub::CreateProgram, request);
  }

  v1::EnrollMemberRequest EnrollRequest(const std::string& request_id, const std::string& email) {
    v1::EnrollMemberRequest request;
    request.set_program("shop");
    request.set_request_id(request_id);
    request.mutable_profile()->set_email(email);
    request.mutable_profile()->set_display_name("Ada");
    return request;
  }

  absl::StatusOr<v1::Member> Enroll(const std::string& request_id, const std::string& email) {
    auto response = Call(&v1::MembersService::Stub::EnrollMember, EnrollRequest(request_id, email));
    if (!response.ok()) return response.status();
    return response->member();
  }

  v1::Member MustEnroll(const std::string& email) {
    auto member = Enroll("enrol-" + email, email);
    LOYALTY_CHECK(member.ok());
    return *member;
  }

  absl::StatusOr<v1::Member> Get(const std::string& member_id) {
    v1::GetMemberRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    auto response = Call(&v1::MembersService::Stub::GetMember, request);
    if (!response.ok()) return response.status();
    return response->member();
  }

  absl::StatusOr<v1::ListMembersResponse> List(int page_size, const std::string& token,
                                               v1::MemberStatus status = {},
                                               const std::string& tier = "") {
    v1::ListMembersRequest request;
    request.set_program("shop");
    request.set_page_size(page_size);
    request.set_page_token(token);
    request.set_status(status);
    request.set_tier(tier);
    return Call(&v1::MembersService::Stub::ListMembers, request);
  }

  absl::StatusOr<v1::RecordQualifyingActivityResponse> Qualify(const std::string& member_id,
                                                               const std::string& event_id,
                                                               int64_t points) {
    v1::RecordQualifyingActivityRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    request.set_event_id(event_id);
    request.set_points(points);
    *request.mutable_occur_time() = ToTimestamp(clock_.Now());
    return Call(&v1::MembersService::Stub::RecordQualifyingActivity, request);
  }

  absl::StatusOr<v1::GetTierStatusResponse> TierStatus(const std::string& member_id) {
    v1::GetTierStatusRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    return Call(&v1::MembersService::Stub::GetTierStatus, request);
  }

  absl::StatusOr<v1::Member> Suspend(const std::string& member_id, const std::string& key) {
    v1::SuspendMemberRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    request.set_request_id(key);
    request.set_reason("chargeback fraud review");
    auto response = Call(&v1::MembersService::Stub::SuspendMember, request);
    if (!response.ok()) return response.status();
    return response->member();
  }

  absl::StatusOr<v1::Member> Reactivate(const std::string& member_id, const std::string& key) {
    v1::ReactivateMemberRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    request.set_request_id(key);
    auto response = Call(&v1::MembersService::Stub::ReactivateMember, request);
    if (!response.ok()) return response.status();
    return response->member();
  }

  absl::StatusOr<v1::Member> Erase(const std::string& member_id, const std::string& key) {
    v1::EraseMemberRequest request;
    request.set_program("shop");
    request.set_member(member_id);
    request.set_request_id(key);
    auto response = Call(&v1::MembersService::Stub::EraseMember, request);
    if (!response.ok()) return response.status();
    return response->member();
  }

  // Every event in the outbox, oldest first.
  std::vector<events::v1::Event> Events() {
    auto connection = pool_->Acquire();
    LOYALTY_CHECK(connection.ok());
    auto page = events::ReadPage(**connection, {.after_sequence = 0, .limit = 1000});
    LOYALTY_CHECK(page.ok());
    return page->events;
  }

  // The event's payload, checking that its type names the message.
  template <typename Payload>
  static Payload PayloadOf(const events::v1::Event& event) {
    Payload payload;
    EXPECT_EQ(event.event_type(), Payload::descriptor()->full_name());
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(event.payload(), &payload).ok());
    return payload;
  }

  static std::string FieldOf(const absl::Status& status) {
    std::vector<FieldViolation> violations = FieldViolations(status);
    return violations.empty() ? "<none>" : violations.front().field;
  }

  testkit::FakeClock clock_{kStart};
  std::unique_ptr<testkit::TestSchema> schema_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<MembersHandler> handler_;
  std::unique_ptr<GrpcMembersService> service_;
  std::unique_ptr<server::GrpcServer> server_;
  std::unique_ptr<v1::MembersService::Stub> stub_;
};

// --- Migrations ----------------------------------------------------------------------------

TEST_F(MembersServiceTest, MembersMigrationsAppliedAgainAreANoOpAndTheSchemaIsCurrent) {
  auto connection = pool_->Acquire();
  ASSERT_THAT(connection, IsOk());
  auto again = pg::ApplyMigrations(**connection, Migrations());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->current_version, static_cast<int>(Migrations().size()));
  EXPECT_THAT(pg::CheckMigrationsCurrent(**connection, Migrations()), IsOk());
}

// --- Programs ------------------------------------------------------------------------------

TEST_F(MembersServiceTest, CreateProgramWithoutTiersGetsTheDefaultLadder) {
  v1::GetProgramRequest request;
  request.set_program("shop");
  auto response = Call(&v1::MembersService::Stub::GetProgram, request);
  ASSERT_THAT(response, IsOk());
  const v1::Program& program = response->program();
  EXPECT_EQ(program.name(), "programs/shop");
  EXPECT_EQ(program.tier_window_months(), 12);
  ASSERT_EQ(program.tiers_size(), 4);
  EXPECT_EQ(program.tiers(0).code(), "bronze");
  EXPECT_EQ(program.tiers(1).threshold_points(), 1000);
  EXPECT_EQ(program.tiers(2).threshold_points(), 5000);
  EXPECT_EQ(program.tiers(3).code(), "platinum");
  EXPECT_EQ(program.tiers(3).threshold_points(), 20000);
  EXPECT_FALSE(program.tiers(3).benefits().empty());
}

TEST_F(MembersServiceTest, CreateProgramTwiceWithTheSameKeyReplaysAndAnotherKeyConflicts) {
  auto replay = CreateProgram("shop", 30);
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->program().id(), "shop");
  v1::CreateProgramRequest request;
  request.set_request_id("another-key");
  request.mutable_program()->set_id("shop");
  request.mutable_program()->set_display_name("Shop again");
  request.mutable_program()->set_currency_code("EUR");
  EXPECT_THAT(Call(&v1::MembersService::Stub::CreateProgram, request),
              StatusIs(C::kAlreadyExists, "PROGRAM_ALREADY_EXISTS"));
}

TEST_F(MembersServiceTest, CreateProgramRejectsABadLadderNamingTheField) {
  v1::CreateProgramRequest request;
  request.set_request_id("bad-ladder");
  request.mutable_program()->set_id("bad");
  request.mutable_program()->set_display_name("Bad");
  request.mutable_program()->set_currency_code("EUR");
  v1::Tier* base = request.mutable_program()->add_tiers();
  base->set_code("base");
  base->set_display_name("Base");
  base->set_earn_multiplier_percent(100);
  v1::Tier* top = request.mutable_program()->add_tiers();
  top->set_code("top");
  top->set_display_name("Top");
  top->set_threshold_points(0);  // Not above the tier below.
  top->set_earn_multiplier_percent(150);
  auto response = Call(&v1::MembersService::Stub::CreateProgram, request);
  EXPECT_THAT(response, StatusIs(C::kInvalidArgument, "INVALID_TIER_LADDER"));
  EXPECT_EQ(FieldOf(response.status()), "program.tiers[1].threshold_points");
  v1::GetProgramRequest get;
  get.set_program("bad");
  EXPECT_THAT(Call(&v1::MembersService::Stub::GetProgram, get),
              StatusIs(C::kNotFound, "PROGRAM_NOT_FOUND"));
}

// --- Enrolment -----------------------------------------------------------------------------

TEST_F(MembersServiceTest, EnrollGivesIdCardNumberReferralCodeAndTheLowestTier) {
  auto member = Enroll("k1", "  Ada.Lovelace@Example.COM ");
  ASSERT_THAT(member, IsOk());
  EXPECT_FALSE(member->id().empty());
  EXPECT_EQ(member->name(), "programs/shop/members/" + member->id());
  EXPECT_EQ(member->profile().email(), "ada.lovelace@example.com");
  EXPECT_EQ(member->status(), v1::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(member->tier(), "bronze");
  EXPECT_TRUE(IsValidCardNumber(member->card_number())) << member->card_number();
  EXPECT_EQ(member->referral_code().size(), 8u);
  auto fetched = Get(member->id());
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->card_number(), member->card_number());
}

TEST_F(MembersServiceTest, EnrollWithPhoneOnlyWorks) {
  v1::EnrollMemberRequest request;
  request.set_program("shop");
  request.set_request_id("phone-1");
  request.mutable_profile()->set_phone("+49 151 1234-5678");
  auto response = Call(&v1::MembersService::Stub::EnrollMember, request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->member().profile().phone(), "+4915112345678");
}

TEST_F(MembersServiceTest, ReEnrolWithTheSameKeyReturnsTheFirstMemberAndWritesNothingNew) {
  auto first = Enroll("same-key", "grace@example.com");
  ASSERT_THAT(first, IsOk());
  auto second = Enroll("same-key", "grace@example.com");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->id(), first->id());
  EXPECT_EQ(second->card_number(), first->card_number());
  auto page = List(10, "");
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->members_size(), 1);
}

TEST_F(MembersServiceTest, ConcurrentEnrolmentsWithOneKeyYieldOneMember) {
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<v1::Member>> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = Enroll("racing-key", "race@example.com"); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->id(), results[0]->id());
  }
  auto page = List(10, "");
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->members_size(), 1);
}

TEST_F(MembersServiceTest, SameKeyWithAnotherPayloadIsIdempotencyKeyReused) {
  ASSERT_THAT(Enroll("key-x", "one@example.com"), IsOk());
  EXPECT_THAT(Enroll("key-x", "two@example.com"),
              StatusIs(C::kInvalidArgument, "IDEMPOTENCY_KEY_REUSED"));
}

TEST_F(MembersServiceTest, DuplicateIdentifierIsAlreadyEnrolledNamingTheExistingMember) {
  v1::Member first = MustEnroll("dup@example.com");
  auto again = Enroll("other-key", "DUP@example.com");
  EXPECT_THAT(again, StatusIs(C::kAlreadyExists, "MEMBER_ALREADY_ENROLLED"));
  EXPECT_EQ(ErrorMetadataOf(again.status()).at("member"), first.name());

  v1::EnrollMemberRequest by_phone = EnrollRequest("phone-a", "p1@example.com");
  by_phone.mutable_profile()->set_phone("+4915100000001");
  ASSERT_THAT(Call(&v1::MembersService::Stub::EnrollMember, by_phone), IsOk());
  v1::EnrollMemberRequest same_phone = EnrollRequest("phone-b", "p2@example.com");
  same_phone.mutable_profile()->set_phone("+49 151 00000001");
  EXPECT_THAT(Call(&v1::MembersService::Stub::EnrollMember, same_phone),
              StatusIs(C::kAlreadyExists, "MEMBER_ALREADY_ENROLLED"));
}

TEST_F(MembersServiceTest, ReferralCodeOfAMemberIsAcceptedAndAnUnknownOneRejected) {
  v1::Member referrer = MustEnroll("referrer@example.com");
  v1::EnrollMemberRequest request = EnrollRequest("ref-1", "friend@example.com");
  request.set_referral_code(absl::AsciiStrToLower(referrer.referral_code()));
  auto referred = Call(&v1::MembersService::Stub::EnrollMember, request);
  ASSERT_THAT(referred, IsOk());
  EXPECT_EQ(referred->member().referred_by_code(), referrer.referral_code());

  v1::EnrollMemberRequest unknown = EnrollRequest("ref-2", "stranger@example.com");
  unknown.set_referral_code("ZZZZZZZZ");
  auto rejected = Call(&v1::MembersService::Stub::EnrollMember, unknown);
  EXPECT_THAT(rejected, StatusIs(C::kInvalidArgument, "UNKNOWN_REFERRAL_CODE"));
  EXPECT_EQ(FieldOf(rejected.status()), "referral_code");
}

// --- Update --------------------------------------------------------------------------------

TEST_F(MembersServiceTest, UpdateChangesOnlyTheMaskedFields) {
  v1::Member member = MustEnroll("mask@example.com");
  v1::UpdateMemberRequest request;
  request.set_program("shop");
  request.set_member(member.id());
  request.set_request_id("upd-1");
  request.mutable_profile()->set_display_name("Ada L.");
  request.mutable_profile()->set_email("ignored@example.com");  // Not in the mask.
  request.mutable_profile()->set_marketing_consent(true);
  request.mutable_update_mask()->add_paths("display_name");
  request.mutable_update_mask()->add_paths("profile.marketing_consent");
  auto response = Call(&v1::MembersService::Stub::UpdateMember, request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->member().profile().display_name(), "Ada L.");
  EXPECT_TRUE(response->member().profile().marketing_consent());
  EXPECT_EQ(response->member().profile().email(), "mask@example.com");
  auto fetched = Get(member.id());
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->profile().display_name(), "Ada L.");
}

TEST_F(MembersServiceTest, UpdateRejectsOutputOnlyPathsAndTakenIdentifiers) {
  v1::Member member = MustEnroll("u1@example.com");
  MustEnroll("u2@example.com");
  v1::UpdateMemberRequest request;
  request.set_program("shop");
  request.set_member(member.id());
  request.set_request_id("upd-tier");
  request.mutable_update_mask()->add_paths("tier");
  auto tier = Call(&v1::MembersService::Stub::UpdateMember, request);
  EXPECT_THAT(tier, StatusIs(C::kInvalidArgument, "INVALID_UPDATE_MASK"));
  EXPECT_EQ(FieldOf(tier.status()), "update_mask");

  request.set_request_id("upd-email");
  request.mutable_update_mask()->Clear();
  request.mutable_update_mask()->add_paths("email");
  request.mutable_profile()->set_email("u2@example.com");
  EXPECT_THAT(Call(&v1::MembersService::Stub::UpdateMember, request),
              StatusIs(C::kAlreadyExists, "IDENTIFIER_IN_USE"));

  request.set_request_id("upd-clear");
  request.mutable_profile()->clear_email();
  EXPECT_THAT(Call(&v1::MembersService::Stub::UpdateMember, request),
              StatusIs(C::kInvalidArgument, "IDENTIFIER_REQUIRED"));
  auto fetched = Get(member.id());
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->profile().email(), "u1@example.com");
}

// --- List ----------------------------------------------------------------------------------

// Keyset pagination: members enrolled while a client pages are neither lost nor repeated for
// the rows that existed, and new ones show up at the end.
TEST_F(MembersServiceTest, ListAcrossThreePagesLosesAndRepeatsNothingWhileMembersJoin) {
  std::set<std::string> before;
  for (int i = 0; i < 7; ++i) {
    before.insert(MustEnroll(absl::StrCat("page", i, "@example.com")).id());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  int joined = 0;
  do {
    auto page = List(3, token);
    ASSERT_THAT(page, IsOk());
    ++pages;
    for (const v1::Member& member : page->members()) seen.push_back(member.id());
    token = page->next_page_token();
    if (pages <= 2) {
      MustEnroll(absl::StrCat("late", pages, "@example.com"));
      ++joined;
    }
    ASSERT_LE(pages, 10);
  } while (!token.empty());
  EXPECT_GE(pages, 3);
  const std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a member was repeated";
  for (const std::string& id : before) EXPECT_TRUE(unique.contains(id)) << "lost " << id;
  EXPECT_EQ(seen.size(), before.size() + joined);
}

TEST_F(MembersServiceTest, ListFiltersByStatusAndTokensAreBoundToTheirFilters) {
  v1::Member a = MustEnroll("f1@example.com");
  MustEnroll("f2@example.com");
  v1::Member c = MustEnroll("f3@example.com");
  ASSERT_THAT(Suspend(a.id(), "s-a"), IsOk());
  ASSERT_THAT(Suspend(c.id(), "s-c"), IsOk());
  auto suspended = List(1, "", v1::MEMBER_STATUS_SUSPENDED);
  ASSERT_THAT(suspended, IsOk());
  ASSERT_EQ(suspended->members_size(), 1);
  EXPECT_EQ(suspended->members(0).id(), a.id());
  ASSERT_FALSE(suspended->next_page_token().empty());
  auto rest = List(1, suspended->next_page_token(), v1::MEMBER_STATUS_SUSPENDED);
  ASSERT_THAT(rest, IsOk());
  ASSERT_EQ(rest->members_size(), 1);
  EXPECT_EQ(rest->members(0).id(), c.id());
  EXPECT_TRUE(rest->next_page_token().empty());

  EXPECT_THAT(List(1, suspended->next_page_token(), v1::MEMBER_STATUS_ACTIVE),
              StatusIs(C::kInvalidArgument, "PAGE_TOKEN_FILTER_MISMATCH"));
  EXPECT_THAT(List(1, "not-a-token"), StatusIs(C::kInvalidArgument, "INVALID_PAGE_TOKEN"));
  auto bronze = List(10, "", {}, "bronze");
  ASSERT_THAT(bronze, IsOk());
  EXPECT_EQ(bronze->members_size(), 3);
  EXPECT_THAT(List(10, "", {}, "diamond"), StatusIs(C::kInvalidArgument, "UNKNOWN_TIER"));
}

// --- Lifecycle -----------------------------------------------------------------------------

TEST_F(MembersServiceTest, SuspendAndReactivateMoveBetweenStatesOnlyFromTheRightOne) {
  v1::Member member = MustEnroll("life@example.com");
  auto suspended = Suspend(member.id(), "s1");
  ASSERT_THAT(suspended, IsOk());
  EXPECT_EQ(suspended->status(), v1::MEMBER_STATUS_SUSPENDED);
  // A retry with the same key replays; a new suspension of a suspended member is refused.
  EXPECT_THAT(Suspend(member.id(), "s1"), IsOk());
  EXPECT_THAT(Suspend(member.id(), "s2"), StatusIs(C::kFailedPrecondition, "MEMBER_NOT_ACTIVE"));
  auto reactivated = Reactivate(member.id(), "r1");
  ASSERT_THAT(reactivated, IsOk());
  EXPECT_EQ(reactivated->status(), v1::MEMBER_STATUS_ACTIVE);
  EXPECT_THAT(Reactivate(member.id(), "r2"),
              StatusIs(C::kFailedPrecondition, "MEMBER_NOT_SUSPENDED"));
  EXPECT_THAT(Suspend("mnosuchmember00", "s3"), StatusIs(C::kNotFound, "MEMBER_NOT_FOUND"));
}

TEST_F(MembersServiceTest, EraseAnonymisesReleasesIdentifiersAndKeepsTheId) {
  v1::Member member = MustEnroll("forget.me@example.com");
  auto erased = Erase(member.id(), "e1");
  ASSERT_THAT(erased, IsOk());
  EXPECT_EQ(erased->status(), v1::MEMBER_STATUS_ERASED);
  EXPECT_EQ(erased->profile().email(), "");
  EXPECT_EQ(erased->profile().display_name(), "");
  EXPECT_FALSE(erased->profile().has_birthday());
  // The id stays resolvable for other services' records, with no personal data behind it.
  auto fetched = Get(member.id());
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->id(), member.id());
  EXPECT_EQ(fetched->profile().email(), "");
  // The email is free again.
  auto again = Enroll("e-again", "forget.me@example.com");
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(again->id(), member.id());
  // An erased member cannot be changed or reactivated; erasing again is harmless.
  EXPECT_THAT(Suspend(member.id(), "e-s"), StatusIs(C::kFailedPrecondition, "MEMBER_ERASED"));
  EXPECT_THAT(Reactivate(member.id(), "e-r"), StatusIs(C::kFailedPrecondition, "MEMBER_ERASED"));
  EXPECT_THAT(Erase(member.id(), "e2"), IsOk());
}

// --- Tiers ---------------------------------------------------------------------------------

TEST_F(MembersServiceTest, TierUpgradesAtOnceAndDowngradesOnlyAfterWindowAndGrace) {
  v1::Member member = MustEnroll("tiers@example.com");
  auto silver = Qualify(member.id(), "ev-1", 1500);
  ASSERT_THAT(silver, IsOk());
  EXPECT_EQ(silver->tier(), "silver");
  EXPECT_EQ(silver->qualifying_points(), 1500);
  // Redelivery of the same event changes nothing.
  auto duplicate = Qualify(member.id(), "ev-1", 1500);
  ASSERT_THAT(duplicate, IsOk());
  EXPECT_TRUE(duplicate->duplicate());
  EXPECT_EQ(duplicate->qualifying_points(), 1500);

  clock_.Advance(absl::Hours(24));
  auto gold = Qualify(member.id(), "ev-2", 5000);
  ASSERT_THAT(gold, IsOk());
  EXPECT_EQ(gold->tier(), "gold");
  const absl::Time gold_since = clock_.Now();

  auto status = TierStatus(member.id());
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->current_tier().code(), "gold");
  EXPECT_EQ(status->next_tier().code(), "platinum");
  EXPECT_EQ(status->qualifying_points(), 6500);
  EXPECT_EQ(status->points_to_next_tier(), 13500);
  EXPECT_DOUBLE_EQ(status->progress_percent(), 10.0);
  EXPECT_EQ(status->window_reset_time().seconds(),
            absl::ToUnixSeconds(
                absl::FromCivil(absl::CivilSecond(2027, 1, 16, 12, 0, 0), absl::UTCTimeZone())));
  EXPECT_FALSE(status->has_downgrade_time());

  // Just after the window: no points left in it, but the grace period keeps gold.
  clock_.Set(gold_since + absl::Hours(24 * 366));
  status = TierStatus(member.id());
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->current_tier().code(), "gold");
  EXPECT_EQ(status->qualifying_points(), 0);
  EXPECT_TRUE(status->has_downgrade_time());
  EXPECT_EQ(status->downgrade_tier(), "bronze");

  // After the grace period: down to what the (empty) window supports, with history.
  clock_.Set(gold_since + absl::Hours(24 * (366 + 31)));
  status = TierStatus(member.id());
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->current_tier().code(), "bronze");
  ASSERT_GE(status->recent_changes_size(), 4);
  EXPECT_EQ(status->recent_changes(0).kind(), "DOWNGRADE");
  EXPECT_EQ(status->recent_changes(0).from_tier(), "gold");
  EXPECT_EQ(status->recent_changes(0).to_tier(), "bronze");
  EXPECT_EQ(status->recent_changes(1).kind(), "UPGRADE");
  EXPECT_EQ(status->recent_changes(3).kind(), "ENROLLED");
  auto fetched = Get(member.id());
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->tier(), "bronze");
}

TEST_F(MembersServiceTest, QualifyingAgainDuringGraceKeepsTheTier) {
  v1::Member member = MustEnroll("grace@example.com");
  ASSERT_THAT(Qualify(member.id(), "g-1", 1200), IsOk());
  const absl::Time silver_since = clock_.Now();
  clock_.Set(silver_since + absl::Hours(24 * 370));  // Window over, inside the 30-day grace.
  ASSERT_THAT(Qualify(member.id(), "g-2", 1000), IsOk());
  clock_.Set(silver_since + absl::Hours(24 * 400));  // Past the grace period.
  auto status = TierStatus(member.id());
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->current_tier().code(), "silver");
  EXPECT_EQ(status->recent_changes(0).kind(), "UPGRADE");
}

TEST_F(MembersServiceTest, BackgroundReviewAppliesDueDowngradesWithoutAnyRead) {
  v1::Member member = MustEnroll("sweep@example.com");
  ASSERT_THAT(Qualify(member.id(), "w-1", 6000), IsOk());
  clock_.Advance(absl::Hours(24 * 100));
  auto early = handler_->ApplyDueTierChanges(100);
  ASSERT_THAT(early, IsOk());
  EXPECT_EQ(*early, 0);
  clock_.Advance(absl::Hours(24 * 400));
  auto reviewed = handler_->ApplyDueTierChanges(100);
  ASSERT_THAT(reviewed, IsOk());
  EXPECT_EQ(*reviewed, 1);
  // The downgrade is already stored: a plain list (which never evaluates) shows it.
  auto page = List(10, "");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->members_size(), 1);
  EXPECT_EQ(page->members(0).tier(), "bronze");
  auto again = handler_->ApplyDueTierChanges(100);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, 0);
}

// --- Events --------------------------------------------------------------------------------

TEST_F(MembersServiceTest, EachMutationWritesExactlyItsEventWithItsPayload) {
  const v1::Member referrer = MustEnroll("referrer@example.com");
  v1::EnrollMemberRequest enrol = EnrollRequest("enrol-ev", "ev@example.com");
  enrol.set_referral_code(referrer.referral_code());
  auto enrolled = Call(&v1::MembersService::Stub::EnrollMember, enrol);
  ASSERT_THAT(enrolled, IsOk());
  const v1::Member member = enrolled->member();
  ASSERT_THAT(Call(&v1::MembersService::Stub::EnrollMember, enrol), IsOk());  // Replay.
  clock_.Advance(absl::Minutes(1));
  v1::UpdateMemberRequest update;
  update.set_program("shop");
  update.set_member(member.id());
  update.set_request_id("upd-ev");
  update.mutable_profile()->set_display_name("Eve");
  update.mutable_update_mask()->add_paths("display_name");
  ASSERT_THAT(Call(&v1::MembersService::Stub::UpdateMember, update), IsOk());
  ASSERT_THAT(Suspend(member.id(), "sus-ev"), IsOk());
  ASSERT_THAT(Suspend(member.id(), "sus-ev"), IsOk());  // Replay: no second event.
  ASSERT_THAT(Suspend(member.id(), "sus-ev-2"),
              StatusIs(C::kFailedPrecondition, "MEMBER_NOT_ACTIVE"));  // Refused: none either.
  ASSERT_THAT(Reactivate(member.id(), "re-ev"), IsOk());
  ASSERT_THAT(Erase(member.id(), "er-ev"), IsOk());
  ASSERT_THAT(Erase(member.id(), "er-ev-2"), IsOk());  // Nothing left to erase: no event.

  const std::vector<events::v1::Event> events = Events();
  ASSERT_EQ(events.size(), 6u);
  for (const events::v1::Event& event : events) {
    EXPECT_EQ(event.program(), "shop");
    EXPECT_EQ(event.aggregate_type(), "member");
    EXPECT_EQ(event.event_id().size(), 32u);
  }
  EXPECT_EQ(events[0].aggregate_id(), referrer.id());
  EXPECT_EQ(events[1].aggregate_id(), member.id());
  const auto first = PayloadOf<v1::MemberEnrolled>(events[1]);
  EXPECT_EQ(first.program(), "shop");
  EXPECT_EQ(first.member(), member.id());
  EXPECT_EQ(first.tier(), "bronze");
  EXPECT_EQ(first.earn_multiplier_percent(), 100);
  EXPECT_EQ(first.referral_code(), member.referral_code());
  EXPECT_EQ(first.referred_by_code(), referrer.referral_code());
  EXPECT_EQ(first.enroll_time().seconds(), absl::ToUnixSeconds(kStart));
  EXPECT_EQ(events[1].occur_time().seconds(), absl::ToUnixSeconds(kStart));
  const auto updated = PayloadOf<v1::MemberUpdated>(events[2]);
  EXPECT_EQ(updated.member(), member.id());
  EXPECT_THAT(updated.changed_fields(), ElementsAre("display_name"));
  EXPECT_EQ(events[2].occur_time().seconds(), absl::ToUnixSeconds(kStart + absl::Minutes(1)));
  EXPECT_EQ(PayloadOf<v1::MemberSuspended>(events[3]).member(), member.id());
  EXPECT_EQ(PayloadOf<v1::MemberReactivated>(events[4]).member(), member.id());
  EXPECT_EQ(PayloadOf<v1::MemberErased>(events[5]).member(), member.id());
  // No personal data travels in events.
  for (const events::v1::Event& event : events) {
    EXPECT_EQ(event.payload().find("example.com"), std::string::npos) << event.payload();
    EXPECT_EQ(event.payload().find("Eve"), std::string::npos) << event.payload();
  }
}

TEST_F(MembersServiceTest, TierChangesWriteTierChangedEventsWhereverTheyAreApplied) {
  v1::Member member = MustEnroll("climb@example.com");
  ASSERT_THAT(Qualify(member.id(), "t-1", 1500), IsOk());
  ASSERT_THAT(Qualify(member.id(), "t-1", 1500), IsOk());  // Redelivered: no second change.
  const absl::Time silver_since = clock_.Now();
  // The downgrade comes due after the window and the 30-day grace; a read applies it.
  clock_.Set(silver_since + absl::Hours(24 * 400));
  ASSERT_THAT(TierStatus(member.id()), IsOk());
  ASSERT_THAT(TierStatus(member.id()), IsOk());  // Nothing more to apply.

  const std::vector<events::v1::Event> events = Events();
  ASSERT_EQ(events.size(), 3u);
  const auto up = PayloadOf<v1::TierChanged>(events[1]);
  EXPECT_EQ(up.member(), member.id());
  EXPECT_EQ(up.from_tier(), "bronze");
  EXPECT_EQ(up.to_tier(), "silver");
  EXPECT_EQ(up.kind(), "UPGRADE");
  EXPECT_EQ(up.earn_multiplier_percent(), 125);
  EXPECT_EQ(up.change_time().seconds(), absl::ToUnixSeconds(silver_since));
  const auto down = PayloadOf<v1::TierChanged>(events[2]);
  EXPECT_EQ(down.from_tier(), "silver");
  EXPECT_EQ(down.to_tier(), "bronze");
  EXPECT_EQ(down.kind(), "DOWNGRADE");
  EXPECT_EQ(down.earn_multiplier_percent(), 100);
  EXPECT_EQ(events[2].occur_time().seconds(), down.change_time().seconds());
}

TEST_F(MembersServiceTest, EventsStreamThroughTheServicesSubscribe) {
  RealClock clock;
  events::Producer producer(*pool_, schema_->connection_options(), clock, events::ProducerConfig{});
  auto server = server::GrpcServer::Start(
      {.service_name = "members-events", .listen_address = "127.0.0.1", .metrics_port = -1},
      {producer.service()});
  ASSERT_THAT(server, IsOk());
  auto stub = events::v1::EventStreamService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->grpc_port()), grpc::InsecureChannelCredentials()));
  const v1::Member member = MustEnroll("stream@example.com");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  events::v1::SubscribeRequest request;
  request.set_consumer("points-svc");
  request.add_types("loyalty.members.v1.MemberEnrolled");
  auto reader = stub->Subscribe(&context, request);
  // A message may carry no event: the stream's first message and heartbeats only report the
  // head, and the enrolment's event may still be waiting for its number (docs/events.md).
  events::v1::SubscribeResponse response;
  do {
    ASSERT_TRUE(reader->Read(&response));
  } while (response.events_size() == 0);
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(PayloadOf<v1::MemberEnrolled>(response.events(0)).member(), member.id());
  context.TryCancel();
  (void)reader->Finish();
}

// --- Bad input -----------------------------------------------------------------------------

TEST_F(MembersServiceTest, BadInputIsInvalidArgumentNamingTheFieldAndWritesNothing) {
  struct Case {
    std::string name;
    v1::EnrollMemberRequest request;
    std::string reason;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"malformed email", EnrollRequest("b1", "not-an-email"), "INVALID_EMAIL", "profile.email"});
  {
    v1::EnrollMemberRequest request = EnrollRequest("b2", "x@example.com");
    request.set_program("no-such-program");
    cases.push_back({"unknown program", request, "UNKNOWN_PROGRAM", "program"});
  }
  {
    v1::EnrollMemberRequest request = EnrollRequest("b3", "y@example.com");
    request.mutable_profile()->set_display_name(std::string(101, 'a'));
    cases.push_back({"oversized name", request, "FIELD_TOO_LONG", "profile.display_name"});
  }
  {
    v1::EnrollMemberRequest request = EnrollRequest("b4", std::string(250, 'a') + "@example.com");
    cases.push_back({"oversized email", request, "INVALID_EMAIL", "profile.email"});
  }
  {
    v1::EnrollMemberRequest request = EnrollRequest("b5", "");
    cases.push_back({"no identifier", request, "IDENTIFIER_REQUIRED", "profile"});
  }
  {
    v1::EnrollMemberRequest request = EnrollRequest("", "z@example.com");
    cases.push_back({"no request id", request, "REQUEST_ID_REQUIRED", "request_id"});
  }
  {
    v1::EnrollMemberRequest request = EnrollRequest("b7", "w@example.com");
    request.mutable_profile()->mutable_birthday()->set_month(2);
    request.mutable_profile()->mutable_birthday()->set_day(30);
    cases.push_back({"impossible birthday", request, "INVALID_BIRTHDAY", "profile.birthday"});
  }
  for (const Case& c : cases) {
    auto response = Call(&v1::MembersService::Stub::EnrollMember, c.request);
    EXPECT_THAT(response, StatusIs(C::kInvalidArgument, c.reason)) << c.name;
    EXPECT_EQ(FieldOf(response.status()), c.field) << c.name;
  }

  auto negative = List(-1, "");
  EXPECT_THAT(negative, StatusIs(C::kInvalidArgument, "INVALID_PAGE_SIZE"));
  EXPECT_EQ(FieldOf(negative.status()), "page_size");
  auto bad_enum = List(10, "", static_cast<v1::MemberStatus>(99));
  EXPECT_THAT(bad_enum, StatusIs(C::kInvalidArgument, "INVALID_ENUM_VALUE"));
  EXPECT_EQ(FieldOf(bad_enum.status()), "status");
  v1::ListMembersRequest unknown_program;
  unknown_program.set_program("nope");
  EXPECT_THAT(Call(&v1::MembersService::Stub::ListMembers, unknown_program),
              StatusIs(C::kInvalidArgument, "UNKNOWN_PROGRAM"));
  EXPECT_THAT(Get("Not-An-Id!"), StatusIs(C::kInvalidArgument, "INVALID_MEMBER_ID"));

  auto page = List(10, "");
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->members_size(), 0);
}

TEST_F(MembersServiceTest, BadQualifyingActivityIsRejected) {
  v1::Member member = MustEnroll("qa@example.com");
  v1::RecordQualifyingActivityRequest request;
  request.set_program("shop");
  request.set_member(member.id());
  request.set_event_id("e");
  request.set_points(10);
  EXPECT_THAT(Call(&v1::MembersService::Stub::RecordQualifyingActivity, request),
              StatusIs(C::kInvalidArgument, "FIELD_REQUIRED"));
  *request.mutable_occur_time() = ToTimestamp(clock_.Now() + absl::Hours(48));
  EXPECT_THAT(Call(&v1::MembersService::Stub::RecordQualifyingActivity, request),
              StatusIs(C::kInvalidArgument, "OCCUR_TIME_IN_FUTURE"));
  *request.mutable_occur_time() = ToTimestamp(clock_.Now());
  request.set_member("mnosuchmember00");
  EXPECT_THAT(Call(&v1::MembersService::Stub::RecordQualifyingActivity, request),
              StatusIs(C::kNotFound, "MEMBER_NOT_FOUND"));
}

}  // namespace
}  // namespace loyalty::members
