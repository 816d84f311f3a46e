#include "common/server/signals.h"

#include <pthread.h>
#include <signal.h>

#include "gtest/gtest.h"

namespace loyalty::server {
namespace {

// Signals go to this thread only (pthread_kill): a process-directed one could land on a thread
// of an earlier test that does not block it, and terminate the test binary.
TEST(WaitForTerminationSignal, ReturnsEachBlockedSignalSentToTheThread) {
  sigset_t saved;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &saved), 0);
  BlockTerminationSignals();

  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
  EXPECT_EQ(WaitForTerminationSignal(), SIGTERM);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGINT), 0);
  EXPECT_EQ(WaitForTerminationSignal(), SIGINT);

  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &saved, nullptr), 0);
}

}  // namespace
}  // namespace loyalty::server
