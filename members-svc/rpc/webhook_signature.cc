#include "members-svc/rpc/webhook_signature.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/check.h"
#include "google/protobuf/util/time_util.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/rand.h"

namespace loyalty::members {
namespace {

// A JSON string literal for `text` (RFC 8259: quote, backslash and control characters escaped).
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string NewWebhookSecret() {
  std::string key(kWebhookSecretBytes, '\0');
  LOYALTY_CHECK(
      RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) == 1);
  return absl::StrCat(absl::string_view(kWebhookSecretPrefix.data(), kWebhookSecretPrefix.size()),
                      absl::Base64Escape(key));
}

std::string WebhookBody(const events::v1::Event& event) {
  return absl::StrCat("{\"id\":", JsonString(event.event_id()),
                      ",\"type\":", JsonString(event.event_type()),
                      ",\"program\":", JsonString(event.program()), ",\"occurredAt\":",
                      JsonString(google::protobuf::util::TimeUtil::ToString(event.occur_time())),
                      ",\"data\":", event.payload().empty() ? "{}" : event.payload(), "}");
}

absl::StatusOr<std::string> WebhookSignature(std::string_view secret, std::string_view id,
                                             int64_t timestamp, std::string_view body) {
  std::string key;
  if (secret.substr(0, kWebhookSecretPrefix.size()) != kWebhookSecretPrefix ||
      !absl::Base64Unescape(absl::string_view(secret.data() + kWebhookSecretPrefix.size(),
                                              secret.size() - kWebhookSecretPrefix.size()),
                            &key) ||
      key.empty()) {
    return absl::InvalidArgumentError("webhook secret is not whsec_ followed by base64");
  }
  const std::string content = absl::StrCat(absl::string_view(id.data(), id.size()), ".", timestamp,
                                           ".", absl::string_view(body.data(), body.size()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac,
           &mac_length) == nullptr) {
    return absl::InternalError("HMAC-SHA256 failed");
  }
  return absl::StrCat(
      "v1,", absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(mac), mac_length)));
}

}  // namespace loyalty::members
