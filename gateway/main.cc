// gateway: REST/JSON in front of the loyalty services (docs/gateway.md).
//
//   gateway           serve HTTP (configuration from LOYALTY_GATEWAY_* variables, see --help)
//   gateway --help    list the variables
//
// Exit codes: 0 clean stop, 1 runtime failure (ports, protos), 2 bad configuration or usage.

#include <cstdio>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "common/config/env.h"
#include "common/log/log.h"
#include "common/server/signals.h"
#include "common/status/error.h"
#include "gateway/config.h"
#include "gateway/gateway_server.h"

namespace {

void PrintHelp() {
  std::printf(
      "usage: gateway\n\n"
      "Serves the loyalty API as REST/JSON on HTTP/1.1. Configuration comes from environment\n"
      "variables:\n\n");
  for (const loyalty::config::VariableDoc& doc : loyalty::gateway::DescribeGatewayConfig()) {
    std::printf("  %-48s %s (default: %s)\n", doc.name.c_str(), doc.description.c_str(),
                doc.default_value.c_str());
  }
  std::printf("\nA member token for development: gateway-dev-token --help\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace loyalty;  // NOLINT(build/namespaces): main only.
  // Before any thread exists, so every thread inherits the blocked mask (signals.h).
  server::BlockTerminationSignals();
  // Debian's Abseil is built with the mutex deadlock detector on; as in the services
  // (common/service), it is a debugging aid that costs every lock on the request path
  // (docs/benchmarks.md, "Gateway").
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    PrintHelp();
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: gateway (see gateway --help)\n");
    return 2;
  }
  config::EnvReader reader;
  absl::StatusOr<gateway::GatewayConfig> config = gateway::LoadGatewayConfig(reader);
  if (!config.ok()) config::ExitOnConfigError("gateway", config.status());
  absl::StatusOr<log::Level> level = log::ParseLevel(config->log_level);
  log::Init("gateway", level.ok() ? *level : log::Level::kInfo);

  absl::StatusOr<std::unique_ptr<gateway::GatewayServer>> server =
      gateway::GatewayServer::Start(*std::move(config));
  if (!server.ok()) {
    log::Error("cannot start", {{"error", StatusSummary(server.status())}});
    return 1;
  }
  const int signal = server::WaitForTerminationSignal();
  log::Info("draining", {{"signal", static_cast<int64_t>(signal)}});
  (*server)->Shutdown();
  log::Info("stopped");
  return 0;
}
