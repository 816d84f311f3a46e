#include "members-svc/rpc/members_handler.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/idempotency/idempotency.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/macros.h"
#include "google/protobuf/util/field_mask_util.h"
#include "loyalty/members/v1/member_events.pb.h"
#include "members-svc/domain/card_number.h"
#include "members-svc/domain/codes.h"
#include "members-svc/domain/tier.h"
#include "members-svc/domain/validation.h"
#include "members-svc/rpc/convert.h"
#include "members-svc/rpc/points_events.h"
#include "members-svc/storage/member_store.h"
#include "members-svc/storage/referral_store.h"

namespace loyalty::members {
namespace {

constexpr std::string_view kServiceName = "loyalty.members.v1.MembersService/";
// Fresh card numbers and referral codes are drawn again when taken; collisions are rare
// (10^14 card numbers, 2^40 codes), so a handful of draws is plenty.
constexpr int kCodeDrawsMax = 5;
constexpr int kTierHistoryInStatusMax = 20;
constexpr int64_t kQualifyingPointsAbsMax = 1'000'000'000;
// Qualifying activity may be reported late, but not from the future beyond clock skew.
constexpr absl::Duration kOccurTimeSkewMax = absl::Hours(1);
// Programs kept by LoadProgramCached; a deployment has a handful.
constexpr size_t kProgramCacheMax = 1000;

std::string Method(std::string_view rpc) {
  return absl::StrCat(absl::string_view(kServiceName.data(), kServiceName.size()),
                      absl::string_view(rpc.data(), rpc.size()));
}

absl::Status MemberNotFound(std::string_view program_id, std::string_view member_id) {
  const std::string name = MemberName(program_id, member_id);
  return ErrorWithReason(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND",
                         absl::StrCat("member ", name, " not found"), {{"member", name}});
}

absl::Status ProgramNotFound(std::string_view program_id) {
  const std::string name = ProgramName(program_id);
  return ErrorWithReason(absl::StatusCode::kNotFound, "PROGRAM_NOT_FOUND",
                         absl::StrCat("program ", name, " not found"), {{"program", name}});
}

// An unknown program named in a request that creates or lists under it is bad input.
absl::Status UnknownProgram(std::string_view program_id) {
  return InvalidField(
      "program", "UNKNOWN_PROGRAM",
      absl::StrCat("no program with id ", absl::string_view(program_id.data(), program_id.size())));
}

absl::Status MemberErased(std::string_view program_id, std::string_view member_id) {
  const std::string name = MemberName(program_id, member_id);
  return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "MEMBER_ERASED",
                         absl::StrCat("member ", name, " was erased"), {{"member", name}});
}

absl::Status AlreadyEnrolled(std::string_view program_id, std::string_view member_id) {
  const std::string name = MemberName(program_id, member_id);
  return ErrorWithReason(absl::StatusCode::kAlreadyExists, "MEMBER_ALREADY_ENROLLED",
                         absl::StrCat("an identifier is already enrolled as ", name),
                         {{"member", name}});
}

// Unique-violation statuses carry the constraint name (common/pg/sqlstate.h).
bool IsUniqueViolationOf(const absl::Status& status,
                         std::initializer_list<std::string_view> names) {
  if (status.code() != absl::StatusCode::kAlreadyExists) return false;
  const ErrorMetadata metadata = ErrorMetadataOf(status);
  auto it = metadata.find("constraint");
  if (it == metadata.end()) return false;
  return std::find(names.begin(), names.end(), it->second) != names.end();
}

std::string TierCode(const Program& program, int index) {
  LOYALTY_CHECK(index >= 0 && index < static_cast<int>(program.tiers.size()));
  return program.tiers[index].code;
}

// Every members-svc event is about one member: aggregate "member", id the member id.
constexpr char kMemberAggregate[] = "member";

events::OutboxEvent MemberEvent(const Member& member, const google::protobuf::Message& payload,
                                absl::Time now) {
  return events::MakeEvent(member.program_id, kMemberAggregate, member.member_id, payload, now);
}

// Adds the event of a status change (MemberSuspended, MemberReactivated, MemberErased), whose
// payload names the member only.
template <typename Payload>
void AddStatusEvent(const Member& member, absl::Time now,
                    std::vector<events::OutboxEvent>& events) {
  Payload payload;
  payload.set_program(member.program_id);
  payload.set_member(member.member_id);
  events.push_back(MemberEvent(member, payload, now));
}

// Appends what a transaction collected (nothing when empty) as its last statements.
absl::Status AppendAll(pg::Connection& connection,
                       const std::vector<events::OutboxEvent>& collected) {
  if (collected.empty()) return absl::OkStatus();
  return events::AppendEvents(connection, collected);
}

// Writes the member's row when its tier state moved from `before` (its row locked).
absl::Status UpdateIfTierMoved(pg::Connection& connection, Member& member, const TierState& before,
                               absl::Time now) {
  if (member.tier.tier_index == before.tier_index &&
      member.tier.period_start == before.period_start) {
    return absl::OkStatus();
  }
  member.update_time = now;
  return members::UpdateMember(connection, member);
}

}  // namespace

MembersHandler::MembersHandler(pg::Pool& pool, const Clock& clock, MembersHandlerOptions options)
    : pool_(pool),
      clock_(clock),
      options_(std::move(options)),
      page_tokens_(options_.page_token_key) {}

std::string MembersHandler::NewId(char prefix) {
  const uint64_t first = options_.random();
  return RandomId(prefix, first, options_.random());
}

// --- Programs ------------------------------------------------------------------------------

absl::StatusOr<v1::CreateProgramResponse> MembersHandler::CreateProgram(
    const v1::CreateProgramRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  if (!request.has_program()) {
    return InvalidField("program", "FIELD_REQUIRED", "the program to create is required");
  }
  LOYALTY_ASSIGN_OR_RETURN(Program program, ParseProgram(request.program()));
  const absl::Time now = clock_.Now();
  program.create_time = now;
  if (program.id.empty()) program.id = NewId('p');
  const std::string method = Method("CreateProgram");
  // Program ids are global, so the key scope is too.
  const idempotency::Call call{.scope = "",
                               .request_id = request.request_id(),
                               .method = method,
                               .request_hash = idempotency::RequestHash(method, request),
                               .now = now};
  absl::StatusOr<v1::CreateProgramResponse> response =
      idempotency::RunIdempotent<v1::CreateProgramResponse>(
          pool_, call,
          [&](pg::Connection& connection) -> absl::StatusOr<v1::CreateProgramResponse> {
            LOYALTY_RETURN_IF_ERROR(InsertProgram(connection, program));
            v1::CreateProgramResponse answer;
            *answer.mutable_program() = ToProto(program);
            return answer;
          });
  if (IsUniqueViolationOf(response.status(), {"programs_pkey"})) {
    return ErrorWithReason(absl::StatusCode::kAlreadyExists, "PROGRAM_ALREADY_EXISTS",
                           absl::StrCat("program ", ProgramName(program.id), " already exists"),
                           {{"program", ProgramName(program.id)}});
  }
  return response;
}

absl::StatusOr<v1::GetProgramResponse> MembersHandler::GetProgram(
    const v1::GetProgramRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                           LoadProgram(*connection, request.program()));
  if (!program.has_value()) return ProgramNotFound(request.program());
  v1::GetProgramResponse response;
  *response.mutable_program() = ToProto(*program);
  return response;
}

// --- Enrolment -----------------------------------------------------------------------------

absl::StatusOr<v1::EnrollMemberResponse> MembersHandler::EnrollMember(
    const v1::EnrollMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(Profile profile, ParseProfile(request.profile(), "profile", now));
  if (!profile.email.has_value() && !profile.phone.has_value()) {
    return InvalidField("profile", "IDENTIFIER_REQUIRED",
                        "an email address or a phone number is required");
  }
  std::optional<std::string> referral_code;
  if (!request.referral_code().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(referral_code,
                             NormalizeReferralCode(request.referral_code(), "referral_code"));
  }
  const std::string& program_id = request.program();
  const std::string method = Method("EnrollMember");
  const idempotency::Call call{.scope = program_id,
                               .request_id = request.request_id(),
                               .method = method,
                               .request_hash = idempotency::RequestHash(method, request),
                               .now = now};
  absl::StatusOr<v1::EnrollMemberResponse> response =
      idempotency::RunIdempotent<v1::EnrollMemberResponse>(
          pool_, call, [&](pg::Connection& connection) -> absl::StatusOr<v1::EnrollMemberResponse> {
            LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                                     LoadProgram(connection, program_id));
            if (!program.has_value()) return UnknownProgram(program_id);
            LOYALTY_ASSIGN_OR_RETURN(
                std::optional<std::string> existing,
                FindMemberByIdentifier(connection, program_id, profile.email, profile.phone));
            std::optional<std::string> referrer;
            if (referral_code.has_value()) {
              LOYALTY_ASSIGN_OR_RETURN(
                  referrer, FindMemberByReferralCode(connection, program_id, *referral_code));
              if (!referrer.has_value()) {
                return InvalidField("referral_code", "UNKNOWN_REFERRAL_CODE",
                                    "no active member of this program has this referral code");
              }
              // The referrer's own email or phone: someone referring themselves.
              if (existing == referrer) {
                return InvalidField("referral_code", "SELF_REFERRAL",
                                    "a member cannot be referred by themselves");
              }
            }
            if (existing.has_value()) return AlreadyEnrolled(program_id, *existing);
            Member member{.program_id = program_id,
                          .member_id = NewId('m'),
                          .status = MemberStatus::kActive,
                          .profile = profile,
                          .referred_by_code = referral_code,
                          .tier = TierState{.tier_index = 0, .period_start = now},
                          .enroll_time = now,
                          .update_time = now};
            for (int draw = 0;; ++draw) {
              if (draw == kCodeDrawsMax) return absl::InternalError("no free card number found");
              member.card_number = CardNumberFromRandom(options_.random());
              LOYALTY_ASSIGN_OR_RETURN(bool taken,
                                       CardNumberTaken(connection, program_id, member.card_number));
              if (!taken) break;
            }
            for (int draw = 0;; ++draw) {
              if (draw == kCodeDrawsMax) return absl::InternalError("no free referral code found");
              member.referral_code = ReferralCodeFromRandom(options_.random());
              LOYALTY_ASSIGN_OR_RETURN(
                  bool taken, ReferralCodeTaken(connection, program_id, member.referral_code));
              if (!taken) break;
            }
            LOYALTY_RETURN_IF_ERROR(InsertMember(connection, member));
            if (referrer.has_value()) {
              LOYALTY_RETURN_IF_ERROR(
                  InsertReferral(connection, Referral{.program_id = program_id,
                                                      .referral_id = NewId('r'),
                                                      .referrer_id = *referrer,
                                                      .referee_id = member.member_id,
                                                      .create_time = now}));
            }
            LOYALTY_RETURN_IF_ERROR(
                InsertTierHistory(connection, program_id, member.member_id,
                                  TierHistoryEntry{.from_tier = std::nullopt,
                                                   .to_tier = TierCode(*program, 0),
                                                   .kind = "ENROLLED",
                                                   .change_time = now}));
            v1::MemberEnrolled enrolled;
            enrolled.set_program(program_id);
            enrolled.set_member(member.member_id);
            enrolled.set_tier(TierCode(*program, 0));
            enrolled.set_earn_multiplier_percent(program->tiers[0].earn_multiplier_percent);
            enrolled.set_referral_code(member.referral_code);
            if (referral_code.has_value()) enrolled.set_referred_by_code(*referral_code);
            *enrolled.mutable_enroll_time() = ToTimestamp(now);
            LOYALTY_RETURN_IF_ERROR(
                events::AppendEvent(connection, MemberEvent(member, enrolled, now)));
            v1::EnrollMemberResponse answer;
            *answer.mutable_member() = ToProto(member, *program);
            return answer;
          });
  if (IsUniqueViolationOf(response.status(), {"members_email_key", "members_phone_key"})) {
    // A concurrent enrolment with the same identifier won the race; name its member.
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(
        std::optional<std::string> existing,
        FindMemberByIdentifier(*connection, program_id, profile.email, profile.phone));
    if (existing.has_value()) return AlreadyEnrolled(program_id, *existing);
  }
  return response;
}

absl::StatusOr<std::optional<Program>> MembersHandler::LoadProgramCached(
    pg::Connection& connection, const std::string& program_id) {
  {
    absl::MutexLock lock(&programs_mutex_);
    if (auto it = programs_.find(program_id); it != programs_.end()) return it->second;
  }
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program, LoadProgram(connection, program_id));
  if (program.has_value()) {
    absl::MutexLock lock(&programs_mutex_);
    if (programs_.size() >= kProgramCacheMax) programs_.clear();
    programs_.emplace(program_id, *program);
  }
  return program;
}

// --- Reads ---------------------------------------------------------------------------------

absl::Status MembersHandler::RefreshTier(pg::Connection& connection, const Program& program,
                                         Member& member, absl::Time now,
                                         std::vector<events::OutboxEvent>& events) {
  absl::Status points_status;
  auto points_in_window = [&](absl::Time window_end) -> int64_t {
    absl::StatusOr<int64_t> points =
        SumQualifyingPoints(connection, member.program_id, member.member_id,
                            WindowStart(window_end, program.policy), window_end);
    if (!points.ok()) {
      if (points_status.ok()) points_status = points.status();
      return 0;
    }
    return *points;
  };
  TierEvaluation evaluation =
      EvaluateTier(program.tiers, program.policy, member.tier, now, points_in_window);
  // A database error during evaluation makes the whole evaluation void.
  LOYALTY_RETURN_IF_ERROR(points_status);
  return ApplyTierEvaluation(connection, program, member, evaluation, events);
}

absl::Status MembersHandler::ApplyTierEvaluation(pg::Connection& connection, const Program& program,
                                                 Member& member, const TierEvaluation& evaluation,
                                                 std::vector<events::OutboxEvent>& events) {
  for (const TierChange& change : evaluation.changes) {
    if (change.kind == TierChangeKind::kRenewal) continue;
    const std::string kind = change.kind == TierChangeKind::kUpgrade ? "UPGRADE" : "DOWNGRADE";
    LOYALTY_RETURN_IF_ERROR(
        InsertTierHistory(connection, member.program_id, member.member_id,
                          TierHistoryEntry{.from_tier = TierCode(program, change.from_index),
                                           .to_tier = TierCode(program, change.to_index),
                                           .kind = kind,
                                           .change_time = change.at}));
    v1::TierChanged changed;
    changed.set_program(member.program_id);
    changed.set_member(member.member_id);
    changed.set_from_tier(TierCode(program, change.from_index));
    changed.set_to_tier(TierCode(program, change.to_index));
    changed.set_kind(kind);
    changed.set_earn_multiplier_percent(program.tiers[change.to_index].earn_multiplier_percent);
    *changed.mutable_change_time() = ToTimestamp(change.at);
    events.push_back(MemberEvent(member, changed, change.at));
  }
  member.tier = evaluation.state;
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Program, Member>> MembersHandler::LoadCurrentMember(
    const std::string& program_id, const std::string& member_id) {
  const absl::Time now = clock_.Now();
  std::optional<Program> program;
  std::optional<Member> member;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(program, LoadProgram(*connection, program_id));
    if (!program.has_value()) return MemberNotFound(program_id, member_id);
    LOYALTY_ASSIGN_OR_RETURN(member, LoadMember(*connection, program_id, member_id, Lock::kNone));
    if (!member.has_value()) return MemberNotFound(program_id, member_id);
  }
  // Most reads find the tier current: the period has not ended yet. Only when it has is the
  // row locked and the evaluation persisted (with its history), so reads stay cheap.
  const bool period_over =
      AddMonths(member->tier.period_start, program->policy.window_months) <= now;
  if (member->status == MemberStatus::kErased || !period_over) {
    return std::make_pair(*std::move(program), *std::move(member));
  }
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(member,
                             LoadMember(connection, program_id, member_id, Lock::kForUpdate));
    if (!member.has_value()) return MemberNotFound(program_id, member_id);
    const TierState before = member->tier;
    std::vector<events::OutboxEvent> tier_events;
    LOYALTY_RETURN_IF_ERROR(RefreshTier(connection, *program, *member, now, tier_events));
    if (member->tier.tier_index == before.tier_index &&
        member->tier.period_start == before.period_start) {
      return absl::OkStatus();
    }
    member->update_time = now;
    LOYALTY_RETURN_IF_ERROR(members::UpdateMember(connection, *member));
    return AppendAll(connection, tier_events);
  }));
  return std::make_pair(*std::move(program), *std::move(member));
}

absl::StatusOr<v1::ListReferralsResponse> MembersHandler::ListReferrals(
    const v1::ListReferralsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  const std::string filters =
      absl::StrCat("referrals|program=", request.program(), "|member=", request.member());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<paging::TimeIdKey> before,
                           paging::DecodeTimeIdToken(page_tokens_, request.page_token(), filters));
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Member> member, LoadMember(*connection, request.program(),
                                                                    request.member(), Lock::kNone));
  if (!member.has_value()) return MemberNotFound(request.program(), request.member());
  LOYALTY_ASSIGN_OR_RETURN(
      ReferralPage page,
      members::ListReferrals(*connection, request.program(), request.member(), before, page_size));
  v1::ListReferralsResponse response;
  for (const Referral& referral : page.referrals) *response.add_referrals() = ToProto(referral);
  if (page.more) {
    const Referral& last = page.referrals.back();
    response.set_next_page_token(
        paging::EncodeTimeIdToken(page_tokens_, {last.create_time, last.referral_id}, filters));
  }
  return response;
}

absl::StatusOr<v1::GetMemberResponse> MembersHandler::GetMember(
    const v1::GetMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(auto current, LoadCurrentMember(request.program(), request.member()));
  v1::GetMemberResponse response;
  *response.mutable_member() = ToProto(current.second, current.first);
  return response;
}

absl::StatusOr<v1::ListMembersResponse> MembersHandler::ListMembers(
    const v1::ListMembersRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateProgramId(request.program(), "program"));
  LOYALTY_ASSIGN_OR_RETURN(int32_t page_size,
                           paging::EffectivePageSize(request.page_size(), "page_size"));
  if (!v1::MemberStatus_IsValid(request.status())) {
    return InvalidField("status", "INVALID_ENUM_VALUE",
                        absl::StrCat("unknown MemberStatus ", request.status()));
  }
  // The token is bound to the filters it was made for (AIP-158).
  const std::string filters = absl::StrCat("program=", request.program(),
                                           "|status=", request.status(), "|tier=", request.tier());
  int64_t after_seq = 0;
  if (!request.page_token().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(paging::PageCursor cursor,
                             page_tokens_.Decode(request.page_token(), filters, "page_token"));
    if (cursor.keys.size() != 1 || !absl::SimpleAtoi(cursor.keys[0], &after_seq)) {
      return InvalidField("page_token", "INVALID_PAGE_TOKEN", "malformed page token");
    }
  }
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                           LoadProgram(*connection, request.program()));
  if (!program.has_value()) return UnknownProgram(request.program());
  MemberFilter filter;
  if (request.status() != v1::MEMBER_STATUS_UNSPECIFIED) {
    filter.status = static_cast<MemberStatus>(request.status());
  }
  if (!request.tier().empty()) {
    auto tier = std::find_if(program->tiers.begin(), program->tiers.end(),
                             [&](const TierDefinition& t) { return t.code == request.tier(); });
    if (tier == program->tiers.end()) {
      return InvalidField("tier", "UNKNOWN_TIER", "no tier with this code in the program");
    }
    filter.tier_position = static_cast<int>(tier - program->tiers.begin());
  }
  LOYALTY_ASSIGN_OR_RETURN(MemberPage page, members::ListMembers(*connection, request.program(),
                                                                 after_seq, filter, page_size));
  v1::ListMembersResponse response;
  for (const Member& member : page.members) *response.add_members() = ToProto(member, *program);
  if (page.more) {
    response.set_next_page_token(
        page_tokens_.Encode(paging::PageCursor{{std::to_string(page.last_seq)}}, filters));
  }
  return response;
}

// --- Member mutations ----------------------------------------------------------------------

template <typename Response>
absl::StatusOr<Response> MembersHandler::MutateMember(
    const google::protobuf::Message& request, std::string_view rpc, const std::string& request_id,
    const std::string& program_id, const std::string& member_id, Mutation mutate) {
  const absl::Time now = clock_.Now();
  const std::string method = Method(rpc);
  const idempotency::Call call{.scope = program_id,
                               .request_id = request_id,
                               .method = method,
                               .request_hash = idempotency::RequestHash(method, request),
                               .now = now};
  return idempotency::RunIdempotent<Response>(
      pool_, call, [&](pg::Connection& connection) -> absl::StatusOr<Response> {
        LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program,
                                 LoadProgram(connection, program_id));
        if (!program.has_value()) return MemberNotFound(program_id, member_id);
        LOYALTY_ASSIGN_OR_RETURN(std::optional<Member> member,
                                 LoadMember(connection, program_id, member_id, Lock::kForUpdate));
        if (!member.has_value()) return MemberNotFound(program_id, member_id);
        std::vector<events::OutboxEvent> collected;
        if (member->status != MemberStatus::kErased) {
          LOYALTY_RETURN_IF_ERROR(RefreshTier(connection, *program, *member, now, collected));
        }
        LOYALTY_RETURN_IF_ERROR(mutate(connection, *program, *member, now, collected));
        member->update_time = now;
        LOYALTY_RETURN_IF_ERROR(members::UpdateMember(connection, *member));
        LOYALTY_RETURN_IF_ERROR(AppendAll(connection, collected));
        Response answer;
        *answer.mutable_member() = ToProto(*member, *program);
        return answer;
      });
}

absl::StatusOr<v1::UpdateMemberResponse> MembersHandler::UpdateMember(
    const v1::UpdateMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(Profile update, ParseProfile(request.profile(), "profile", now));

  // Paths are relative to `profile`; "profile." in front is accepted too. Anything else (tier,
  // status, card_number, ...) is output-only or unknown, and rejected rather than ignored, so a
  // client never believes it changed something it did not.
  static constexpr std::string_view kUpdatable[] = {"email", "phone", "display_name", "birthday",
                                                    "marketing_consent"};
  std::vector<std::string> paths;
  for (std::string path : request.update_mask().paths()) {
    if (absl::StartsWith(path, "profile.")) path = path.substr(8);
    if (std::find(std::begin(kUpdatable), std::end(kUpdatable), path) == std::end(kUpdatable)) {
      return InvalidField("update_mask", "INVALID_UPDATE_MASK",
                          absl::StrCat("path \"", path,
                                       "\" cannot be updated; updatable: email, "
                                       "phone, display_name, birthday, "
                                       "marketing_consent"));
    }
    paths.push_back(path);
  }
  if (request.update_mask().paths().empty()) {
    // AIP-134: without a mask, every field set in the request is updated.
    if (update.email) paths.push_back("email");
    if (update.phone) paths.push_back("phone");
    if (update.display_name) paths.push_back("display_name");
    if (update.birthday) paths.push_back("birthday");
    if (update.marketing_consent) paths.push_back("marketing_consent");
  }
  auto masked = [&paths](std::string_view path) {
    return std::find(paths.begin(), paths.end(), path) != paths.end();
  };
  return MutateMember<v1::UpdateMemberResponse>(
      request, "UpdateMember", request.request_id(), request.program(), request.member(),
      [&](pg::Connection& connection, const Program&, Member& member, absl::Time now,
          std::vector<events::OutboxEvent>& events) -> absl::Status {
        if (member.status == MemberStatus::kErased) {
          return MemberErased(member.program_id, member.member_id);
        }
        Profile& profile = member.profile;
        if (masked("email")) profile.email = update.email;
        if (masked("phone")) profile.phone = update.phone;
        if (masked("display_name")) profile.display_name = update.display_name;
        if (masked("birthday")) profile.birthday = update.birthday;
        if (masked("marketing_consent")) profile.marketing_consent = update.marketing_consent;
        if (!profile.email.has_value() && !profile.phone.has_value()) {
          return InvalidField("profile", "IDENTIFIER_REQUIRED",
                              "a member keeps an email address or a phone number");
        }
        LOYALTY_ASSIGN_OR_RETURN(
            std::optional<std::string> holder,
            FindMemberByIdentifier(
                connection, member.program_id, masked("email") ? profile.email : std::nullopt,
                masked("phone") ? profile.phone : std::nullopt, member.member_id));
        if (holder.has_value()) {
          return ErrorWithReason(absl::StatusCode::kAlreadyExists, "IDENTIFIER_IN_USE",
                                 "another member of the program has this email or phone",
                                 {{"member", MemberName(member.program_id, *holder)}});
        }
        v1::MemberUpdated updated;
        updated.set_program(member.program_id);
        updated.set_member(member.member_id);
        for (const std::string& path : paths) updated.add_changed_fields(path);
        events.push_back(MemberEvent(member, updated, now));
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::SuspendMemberResponse> MembersHandler::SuspendMember(
    const v1::SuspendMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  if (!request.reason().empty()) {
    LOYALTY_RETURN_IF_ERROR(
        ValidateDisplayName(request.reason(), "reason", kSuspendReasonCharsMax));
  }
  return MutateMember<v1::SuspendMemberResponse>(
      request, "SuspendMember", request.request_id(), request.program(), request.member(),
      [&](pg::Connection&, const Program&, Member& member, absl::Time now,
          std::vector<events::OutboxEvent>& events) -> absl::Status {
        if (member.status == MemberStatus::kErased) {
          return MemberErased(member.program_id, member.member_id);
        }
        if (member.status != MemberStatus::kActive) {
          return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "MEMBER_NOT_ACTIVE",
                                 "only an active member can be suspended",
                                 {{"member", MemberName(member.program_id, member.member_id)}});
        }
        member.status = MemberStatus::kSuspended;
        member.suspend_reason =
            request.reason().empty() ? std::nullopt : std::optional(request.reason());
        AddStatusEvent<v1::MemberSuspended>(member, now, events);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ReactivateMemberResponse> MembersHandler::ReactivateMember(
    const v1::ReactivateMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  return MutateMember<v1::ReactivateMemberResponse>(
      request, "ReactivateMember", request.request_id(), request.program(), request.member(),
      [&](pg::Connection&, const Program&, Member& member, absl::Time now,
          std::vector<events::OutboxEvent>& events) -> absl::Status {
        if (member.status == MemberStatus::kErased) {
          return MemberErased(member.program_id, member.member_id);
        }
        if (member.status != MemberStatus::kSuspended) {
          return ErrorWithReason(absl::StatusCode::kFailedPrecondition, "MEMBER_NOT_SUSPENDED",
                                 "only a suspended member can be reactivated",
                                 {{"member", MemberName(member.program_id, member.member_id)}});
        }
        member.status = MemberStatus::kActive;
        member.suspend_reason = std::nullopt;
        AddStatusEvent<v1::MemberReactivated>(member, now, events);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::EraseMemberResponse> MembersHandler::EraseMember(
    const v1::EraseMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateRequestId(request.request_id(), "request_id"));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  return MutateMember<v1::EraseMemberResponse>(
      request, "EraseMember", request.request_id(), request.program(), request.member(),
      [&](pg::Connection&, const Program&, Member& member, absl::Time now,
          std::vector<events::OutboxEvent>& events) -> absl::Status {
        // Erasing twice is harmless: the second call finds nothing left to erase.
        if (member.status == MemberStatus::kErased) return absl::OkStatus();
        // Personal data goes; identifiers (email, phone) are released for re-enrolment. The
        // member id, card number, referral code and tier state stay: they identify no person
        // once the profile is gone, and other services key their records by the member id.
        member.profile = Profile{};
        member.suspend_reason = std::nullopt;
        member.status = MemberStatus::kErased;
        member.erase_time = now;
        AddStatusEvent<v1::MemberErased>(member, now, events);
        return absl::OkStatus();
      });
}

// --- Tiers ---------------------------------------------------------------------------------

absl::StatusOr<v1::GetTierStatusResponse> MembersHandler::GetTierStatus(
    const v1::GetTierStatusRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  LOYALTY_ASSIGN_OR_RETURN(auto current, LoadCurrentMember(request.program(), request.member()));
  const Program& program = current.first;
  const Member& member = current.second;
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
  LOYALTY_ASSIGN_OR_RETURN(int64_t points,
                           SumQualifyingPoints(*connection, member.program_id, member.member_id,
                                               WindowStart(now, program.policy), now));
  LOYALTY_ASSIGN_OR_RETURN(
      std::vector<TierHistoryEntry> history,
      ListTierHistory(*connection, member.program_id, member.member_id, kTierHistoryInStatusMax));
  const TierProgress progress =
      ComputeTierProgress(program.tiers, program.policy, member.tier, now, points);
  v1::GetTierStatusResponse response;
  *response.mutable_current_tier() = ToProto(program.tiers[progress.current_index]);
  response.set_qualifying_points(progress.qualifying_points);
  if (progress.next_index.has_value()) {
    *response.mutable_next_tier() = ToProto(program.tiers[*progress.next_index]);
  }
  response.set_points_to_next_tier(progress.points_to_next);
  response.set_progress_percent(progress.progress_percent);
  *response.mutable_period_start_time() = ToTimestamp(progress.period_start);
  *response.mutable_window_reset_time() = ToTimestamp(progress.window_reset);
  if (progress.downgrade_at.has_value() && progress.downgrade_index.has_value()) {
    *response.mutable_downgrade_time() = ToTimestamp(*progress.downgrade_at);
    response.set_downgrade_tier(TierCode(program, *progress.downgrade_index));
  }
  for (const TierHistoryEntry& entry : history) {
    v1::TierChange* change = response.add_recent_changes();
    if (entry.from_tier) change->set_from_tier(*entry.from_tier);
    change->set_to_tier(entry.to_tier);
    change->set_kind(entry.kind);
    *change->mutable_change_time() = ToTimestamp(entry.change_time);
  }
  return response;
}

absl::StatusOr<v1::RecordQualifyingActivityResponse> MembersHandler::RecordQualifyingActivity(
    const v1::RecordQualifyingActivityRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateMemberRef(request.program(), request.member()));
  if (request.event_id().empty() || request.event_id().size() > kEventIdLengthMax) {
    return InvalidField("event_id", "INVALID_EVENT_ID",
                        absl::StrCat("must be 1-", kEventIdLengthMax, " characters"));
  }
  if (request.points() < -kQualifyingPointsAbsMax || request.points() > kQualifyingPointsAbsMax) {
    return InvalidField("points", "POINTS_OUT_OF_RANGE",
                        absl::StrCat("must be within +-", kQualifyingPointsAbsMax));
  }
  if (!request.has_occur_time()) {
    return InvalidField("occur_time", "FIELD_REQUIRED", "when the activity happened is required");
  }
  LOYALTY_ASSIGN_OR_RETURN(absl::Time occur_time,
                           ParseTimestamp(request.occur_time(), "occur_time"));
  const absl::Time now = clock_.Now();
  if (occur_time > now + kOccurTimeSkewMax) {
    return InvalidField("occur_time", "OCCUR_TIME_IN_FUTURE",
                        "the activity cannot happen in the future");
  }
  v1::RecordQualifyingActivityResponse response;
  LOYALTY_RETURN_IF_ERROR(pool_.InTransaction([&](pg::Connection& connection) -> absl::Status {
    LOYALTY_ASSIGN_OR_RETURN(
        response, RecordQualifyingIn(connection, request.program(), request.member(),
                                     request.event_id(), request.points(), occur_time, now,
                                     /*with_total=*/true));
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<v1::RecordQualifyingActivityResponse> MembersHandler::RecordQualifyingIn(
    pg::Connection& connection, const std::string& program_id, const std::string& member_id,
    const std::string& event_id, int64_t points, absl::Time occur_time, absl::Time now,
    bool with_total) {
  v1::RecordQualifyingActivityResponse response;
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Program> program, LoadProgram(connection, program_id));
  if (!program.has_value()) return UnknownProgram(program_id);
  LOYALTY_ASSIGN_OR_RETURN(std::optional<Member> member,
                           LoadMember(connection, program_id, member_id, Lock::kForUpdate));
  if (!member.has_value()) return MemberNotFound(program_id, member_id);
  LOYALTY_ASSIGN_OR_RETURN(
      bool inserted, InsertQualifyingActivity(connection, program_id, member_id, event_id, points,
                                              occur_time, now));
  response.set_duplicate(!inserted);
  // Points keep counting for an erased member (they are not personal data), but nothing
  // about the erased member's tier moves any more.
  std::vector<events::OutboxEvent> tier_events;
  if (inserted && member->status != MemberStatus::kErased) {
    const TierState before = member->tier;
    LOYALTY_RETURN_IF_ERROR(RefreshTier(connection, *program, *member, now, tier_events));
    LOYALTY_RETURN_IF_ERROR(UpdateIfTierMoved(connection, *member, before, now));
  }
  response.set_tier(TierCode(*program, member->tier.tier_index));
  if (with_total) {
    LOYALTY_ASSIGN_OR_RETURN(int64_t sum,
                             SumQualifyingPoints(connection, program_id, member_id,
                                                 WindowStart(now, program->policy), now));
    response.set_qualifying_points(sum);
  }
  LOYALTY_RETURN_IF_ERROR(AppendAll(connection, tier_events));
  return response;
}

absl::Status MembersHandler::ApplyPointsEvent(pg::Connection& connection,
                                              const events::v1::Event& event) {
  const absl::Time now = clock_.Now();
  LOYALTY_ASSIGN_OR_RETURN(std::optional<QualifyingPoints> qualifying, QualifyingPointsOf(event));
  if (!qualifying.has_value() || qualifying->points == 0) return absl::OkStatus();
  // A purchase stamped ahead of this clock counts from now, so it is inside the current window.
  absl::StatusOr<v1::RecordQualifyingActivityResponse> recorded = RecordQualifyingIn(
      connection, qualifying->program_id, qualifying->member_id, event.event_id(),
      qualifying->points, std::min(qualifying->occur_time, now), now, /*with_total=*/false);
  // points-svc earns only for members it learnt of from here, so an unknown member or program
  // is a test fixture or a deleted schema: nothing to count, and no reason to stop the stream.
  if (recorded.status().code() == absl::StatusCode::kNotFound ||
      ErrorReason(recorded.status()) == "UNKNOWN_PROGRAM") {
    log::Warning("points event for an unknown member skipped",
                 {{"event_id", event.event_id()},
                  {"member", MemberName(qualifying->program_id, qualifying->member_id)}});
    return absl::OkStatus();
  }
  return recorded.status();
}

absl::Status MembersHandler::ApplyPointsEvents(pg::Connection& connection,
                                               std::span<const events::v1::Event* const> events) {
  const absl::Time now = clock_.Now();
  struct Qualifying {
    const events::v1::Event* event;
    QualifyingPoints points;
  };
  std::vector<Qualifying> qualifying;
  qualifying.reserve(events.size());
  for (const events::v1::Event* event : events) {
    LOYALTY_ASSIGN_OR_RETURN(std::optional<QualifyingPoints> points, QualifyingPointsOf(*event));
    if (!points.has_value() || points->points == 0) continue;
    // As ApplyPointsEvent: a purchase stamped ahead of this clock counts from now.
    points->occur_time = std::min(points->occur_time, now);
    qualifying.push_back(Qualifying{.event = event, .points = *std::move(points)});
  }
  if (qualifying.empty()) return absl::OkStatus();

  // Each program once (usually from the cache), then every member of a known program locked in
  // one statement.
  absl::flat_hash_map<std::string, std::optional<Program>> programs;
  std::vector<MemberKey> keys;
  for (const Qualifying& item : qualifying) {
    auto [program, added] = programs.try_emplace(item.points.program_id);
    if (added) {
      LOYALTY_ASSIGN_OR_RETURN(program->second,
                               LoadProgramCached(connection, item.points.program_id));
    }
    if (program->second.has_value()) {
      keys.push_back(
          MemberKey{.program_id = item.points.program_id, .member_id = item.points.member_id});
    }
  }
  using Key = std::pair<std::string, std::string>;
  absl::flat_hash_map<Key, Member> members;
  if (!keys.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(std::vector<Member> locked, LockMembers(connection, keys));
    for (Member& member : locked) {
      Key key(member.program_id, member.member_id);
      members.emplace(std::move(key), std::move(member));
    }
  }

  // Each event goes one of three ways. A member whose qualification period has ended has a
  // renewal or downgrade due before its points count, which samples the window at past
  // instants: such a member (rare: the tier-review sweep and reads keep periods current) takes
  // the per-event path. Every other member's activities are inserted together, and its tier is
  // evaluated after each of its events from its window sum before the message plus what the
  // message added so far: the same evaluations, at the same `now`, as one by one.
  enum class Way { kSkip, kOneByOne, kTogether };
  std::vector<Way> ways(qualifying.size(), Way::kSkip);
  std::vector<QualifyingActivity> together;
  std::vector<MemberKey> summed;
  std::vector<absl::Time> window_starts;
  absl::flat_hash_map<Key, int64_t> window_sums;
  for (size_t i = 0; i < qualifying.size(); ++i) {
    const QualifyingPoints& points = qualifying[i].points;
    const std::optional<Program>& program = programs.at(points.program_id);
    const auto member = program.has_value() ? members.find(Key(points.program_id, points.member_id))
                                            : members.end();
    if (member == members.end()) {
      // As ApplyPointsEvent: nothing to count, and no reason to stop the stream.
      log::Warning("points event for an unknown member skipped",
                   {{"event_id", qualifying[i].event->event_id()},
                    {"member", MemberName(points.program_id, points.member_id)}});
      continue;
    }
    const bool erased = member->second.status == MemberStatus::kErased;
    if (!erased &&
        AddMonths(member->second.tier.period_start, program->policy.window_months) <= now) {
      ways[i] = Way::kOneByOne;
      continue;
    }
    ways[i] = Way::kTogether;
    together.push_back(QualifyingActivity{.program_id = points.program_id,
                                          .member_id = points.member_id,
                                          .event_id = qualifying[i].event->event_id(),
                                          .points = points.points,
                                          .occur_time = points.occur_time});
    if (!erased && window_sums.try_emplace(member->first, 0).second) {
      summed.push_back(MemberKey{.program_id = points.program_id, .member_id = points.member_id});
      window_starts.push_back(WindowStart(now, program->policy));
    }
  }
  // The sums before this message's activities, which are inserted next.
  if (!summed.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> sums,
                             SumQualifyingPointsOfMembers(connection, summed, window_starts, now));
    for (size_t i = 0; i < summed.size(); ++i) {
      window_sums[Key(summed[i].program_id, summed[i].member_id)] = sums[i];
    }
  }
  absl::flat_hash_set<std::string> inserted;
  if (!together.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                             InsertQualifyingActivities(connection, together, now));
    inserted.insert(ids.begin(), ids.end());
  }

  std::vector<events::OutboxEvent> tier_events;
  for (size_t i = 0; i < qualifying.size(); ++i) {
    const QualifyingPoints& points = qualifying[i].points;
    const std::string& event_id = qualifying[i].event->event_id();
    if (ways[i] == Way::kSkip) continue;
    if (ways[i] == Way::kOneByOne) {
      // What the batch changed so far goes first, so the stream has the one-by-one order.
      LOYALTY_RETURN_IF_ERROR(AppendAll(connection, tier_events));
      tier_events.clear();
      LOYALTY_RETURN_IF_ERROR(RecordQualifyingIn(connection, points.program_id, points.member_id,
                                                 event_id, points.points, points.occur_time, now,
                                                 /*with_total=*/false)
                                  .status());
      continue;
    }
    const Key key(points.program_id, points.member_id);
    const auto sum = window_sums.find(key);
    // Recorded before (a duplicate; erase: an id repeated in `events` counts once), or an erased
    // member's, whose tier no longer moves.
    if (inserted.erase(event_id) == 0 || sum == window_sums.end()) continue;
    const Program& program = *programs.at(points.program_id);
    if (points.occur_time > WindowStart(now, program.policy)) sum->second += points.points;
    Member& member = members.at(key);
    const TierEvaluation evaluation =
        EvaluateTier(program.tiers, program.policy, member.tier, now, [&](absl::Time window_end) {
          // The period has not ended, so only the window ending now is looked at.
          LOYALTY_CHECK(window_end == now);
          return sum->second;
        });
    if (evaluation.changes.empty()) continue;  // The common case: no statement at all.
    const TierState before = member.tier;
    LOYALTY_RETURN_IF_ERROR(
        ApplyTierEvaluation(connection, program, member, evaluation, tier_events));
    LOYALTY_RETURN_IF_ERROR(UpdateIfTierMoved(connection, member, before, now));
  }
  // The message's TierChanged events in one insert, in the order the changes were made: a wave
  // of upgrades (members crossing a threshold together) costs one statement fewer per member.
  return AppendAll(connection, tier_events);
}

absl::StatusOr<int> MembersHandler::ApplyDueTierChanges(int limit) {
  const absl::Time now = clock_.Now();
  std::vector<MemberKey> due;
  {
    LOYALTY_ASSIGN_OR_RETURN(pg::PooledConnection connection, pool_.Acquire());
    LOYALTY_ASSIGN_OR_RETURN(due, MembersDueForTierReview(*connection, now, limit));
  }
  // One short transaction per member, so a long sweep never holds many row locks, and a member
  // that fails does not stop the others; its error is returned after the batch.
  absl::Status first_error;
  for (const MemberKey& key : due) {
    absl::Status status = LoadCurrentMember(key.program_id, key.member_id).status();
    if (!status.ok() && first_error.ok()) first_error = status;
  }
  if (!first_error.ok()) return first_error;
  return static_cast<int>(due.size());
}

}  // namespace loyalty::members
