#include "common/server/signals.h"

#include <pthread.h>
#include <signal.h>

namespace loyalty::server {
namespace {

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t signals = TerminationSignals();
  // Fails only for an invalid `how`, which this constant is not.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForTerminationSignal() {
  const sigset_t signals = TerminationSignals();
  int signal_number = 0;
  // Fails only for a set holding invalid signals, which this one does not.
  sigwait(&signals, &signal_number);
  return signal_number;
}

}  // namespace loyalty::server
