#pragma once

// proto <-> domain conversion for members-svc. Parse* functions validate input and return
// INVALID_ARGUMENT with a BadRequest naming the field; To* functions cannot fail.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc/proto_time.h"
#include "common/validation/ids.h"
#include "loyalty/members/v1/members_service.pb.h"
#include "members-svc/domain/member.h"
#include "members-svc/storage/referral_store.h"

namespace loyalty::members {

inline constexpr size_t kDisplayNameCharsMax = 100;
inline constexpr size_t kProgramNameCharsMax = 200;
inline constexpr size_t kSuspendReasonCharsMax = 500;
inline constexpr size_t kEventIdLengthMax = 128;
inline constexpr int64_t kPointValueMinorPerThousandMax = 1'000'000'000;
inline constexpr int32_t kReferralRewardsMaxMax = 1'000'000;
inline constexpr int32_t kTierWindowMonthsDefault = 12;

// Validates the program in a CreateProgramRequest; `id` may be empty (the caller picks one).
absl::StatusOr<Program> ParseProgram(const v1::Program& proto);

// Validates and normalises a profile (field paths under `field_prefix`, e.g. "profile").
// Does not require an identifier: callers decide (enrolment does, a masked update checks after
// merging).
absl::StatusOr<Profile> ParseProfile(const v1::MemberProfile& proto, std::string_view field_prefix,
                                     absl::Time now);

v1::Program ToProto(const Program& program);
v1::Tier ToProto(const TierDefinition& tier);
v1::Member ToProto(const Member& member, const Program& program);
v1::MemberProfile ToProto(const Profile& profile);
v1::Referral ToProto(const Referral& referral);

}  // namespace loyalty::members
