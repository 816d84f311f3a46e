// A merchant's webhook endpoint for end-to-end tests (tests/e2e/webhooks_test.sh):
//
//   webhook-receiver PORT_FILE OUT_DIR FAIL_FIRST
//
// Listens on 127.0.0.1 and a free port, written to PORT_FILE once it listens. Answers the first
// FAIL_FIRST requests with 500 and every later one with 200, and records request N (from 0) as
// OUT_DIR/N.headers ("name: value" lines, names lowercased), OUT_DIR/N.body (the raw body) and
// OUT_DIR/N.status (the status it answered). Runs until it is killed.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "members-svc/rpc/testing/webhook_receiver.h"

int main(int argc, char** argv) {
  int fail_first = 0;
  if (argc != 4 || !absl::SimpleAtoi(argv[3], &fail_first) || fail_first < 0) {
    std::fprintf(stderr, "usage: %s PORT_FILE OUT_DIR FAIL_FIRST\n", argv[0]);
    return 2;
  }
  // Blocked before any thread starts, so every thread leaves SIGTERM to sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  const std::string out_dir = argv[2];
  loyalty::members::testing::WebhookReceiver receiver(
      [&out_dir, fail_first](int index, const loyalty::members::testing::ReceivedRequest& request) {
        const int status = index < fail_first ? 500 : 200;
        const std::string base = absl::StrCat(out_dir, "/", index);
        std::ofstream headers(base + ".headers");
        for (const auto& [name, value] : request.headers) headers << name << ": " << value << "\n";
        std::ofstream(base + ".body", std::ios::binary) << request.body;
        std::ofstream(base + ".status") << status << "\n";
        return status;
      });
  const std::string url = receiver.url();
  {
    std::ofstream port_file(std::string(argv[1]) + ".tmp");
    port_file << url.substr(url.rfind(':') + 1, url.find('/', 7) - url.rfind(':') - 1) << "\n";
  }
  std::rename((std::string(argv[1]) + ".tmp").c_str(), argv[1]);
  // Until SIGTERM or SIGINT.
  int signal = 0;
  sigwait(&signals, &signal);
  return 0;
}
