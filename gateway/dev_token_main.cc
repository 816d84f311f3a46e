// gateway-dev-token: mints an HS256 member token for development and demos (scripts/run), with
// the same LOYALTY_GATEWAY_JWT_* variables the gateway reads, so the token it prints is one the
// local gateway accepts. Production tokens come from the merchant's identity provider.
//
//   gateway-dev-token --program=demo --member=m0123456789abcd [--ttl-s=3600]
//
// Exit codes: 0 printed a token, 2 bad usage or configuration.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "common/config/env.h"
#include "gateway/auth/jwt_sign.h"

namespace {

int Usage() {
  std::fprintf(
      stderr,
      "usage: gateway-dev-token --program=ID --member=ID [--ttl-s=SECONDS]\n"
      "  reads LOYALTY_GATEWAY_JWT_HS256_SECRET (required), LOYALTY_GATEWAY_JWT_HS256_KID,\n"
      "  LOYALTY_GATEWAY_JWT_ISSUER and LOYALTY_GATEWAY_JWT_AUDIENCE (required)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace loyalty;  // NOLINT(build/namespaces): main only.
  gateway::MemberTokenSpec spec;
  int64_t ttl_s = 3600;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--help" || argument == "-h") {
      Usage();
      return 0;
    }
    if (argument.rfind("--program=", 0) == 0) {
      spec.program = argument.substr(10);
    } else if (argument.rfind("--member=", 0) == 0) {
      spec.member = argument.substr(9);
    } else if (argument.rfind("--ttl-s=", 0) == 0) {
      ttl_s = std::atoll(argument.c_str() + 8);
      if (ttl_s <= 0 || ttl_s > 7 * 24 * 3600) return Usage();
    } else {
      return Usage();
    }
  }
  if (spec.program.empty() || spec.member.empty()) return Usage();
  config::EnvReader reader;
  const std::string secret = reader.Required("LOYALTY_GATEWAY_JWT_HS256_SECRET", 1024);
  spec.kid = reader.String("LOYALTY_GATEWAY_JWT_HS256_KID", "", 255);
  spec.issuer = reader.Required("LOYALTY_GATEWAY_JWT_ISSUER", 255);
  spec.audience = reader.Required("LOYALTY_GATEWAY_JWT_AUDIENCE", 255);
  if (!reader.status().ok()) config::ExitOnConfigError("gateway-dev-token", reader.status());
  spec.issue_time = absl::Now();
  spec.lifetime = absl::Seconds(ttl_s);
  absl::StatusOr<std::string> token =
      gateway::MintMemberToken(spec, gateway::JwsAlgorithm::kHs256, secret);
  if (!token.ok()) config::ExitOnConfigError("gateway-dev-token", token.status());
  std::printf("%s\n", token->c_str());
  return 0;
}
