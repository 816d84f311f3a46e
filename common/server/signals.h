#pragma once

// Synchronous handling of SIGTERM and SIGINT, so that main() drains the server on a normal thread
// instead of inside an async signal handler, where almost nothing (locks, gRPC, logging) is safe.
//
//   int main() {
//     loyalty::server::BlockTerminationSignals();
//     ... start the server ...
//     loyalty::server::WaitForTerminationSignal();
//     server->Shutdown();
//   }

namespace loyalty::server {

// Blocks SIGTERM and SIGINT in the calling thread. Call it first thing in main(), before any
// thread exists: threads inherit the mask, so the signals stay pending until taken by
// WaitForTerminationSignal instead of killing the process from whichever thread they hit.
void BlockTerminationSignals();

// Blocks until SIGTERM or SIGINT is pending and takes it; returns the signal number. The signals
// must be blocked (BlockTerminationSignals) in every thread.
int WaitForTerminationSignal();

}  // namespace loyalty::server
