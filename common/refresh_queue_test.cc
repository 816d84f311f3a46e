#include "common/refresh_queue.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

TEST(RefreshQueue, RunsEachScheduledRefreshInOrder) {
  RefreshQueue queue(10);
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(queue.Schedule(absl::StrCat("k", i), [&ran, i] { ran.push_back(i); }));
  }
  queue.Drain();
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
}

TEST(RefreshQueue, AKeyWaitsOnceAndMayWaitAgainWhileItRuns) {
  RefreshQueue queue(10);
  absl::Notification started;
  absl::Notification release;
  std::atomic<int> runs = 0;
  auto blocking = [&] {
    ++runs;
    started.Notify();
    release.WaitForNotification();
  };
  ASSERT_TRUE(queue.Schedule("m", blocking));
  started.WaitForNotification();
  // Running: no longer waiting, so it may be scheduled again, once.
  EXPECT_TRUE(queue.Schedule("m", [&] { ++runs; }));
  EXPECT_FALSE(queue.Schedule("m", [&] { ++runs; }));
  EXPECT_EQ(queue.pending(), 1u);
  release.Notify();
  queue.Drain();
  EXPECT_EQ(runs, 2);
}

TEST(RefreshQueue, RefusesPastItsBound) {
  RefreshQueue queue(2);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(queue.Schedule("running", [&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  EXPECT_TRUE(queue.Schedule("a", [] {}));
  EXPECT_TRUE(queue.Schedule("b", [] {}));
  EXPECT_FALSE(queue.Schedule("c", [] {}));
  release.Notify();
  queue.Drain();
  EXPECT_TRUE(queue.Schedule("c", [] {}));
  queue.Drain();
}

TEST(RefreshQueue, DestructionDropsWhatWaitsAndFinishesWhatRuns) {
  std::atomic<int> runs = 0;
  absl::Notification started;
  absl::Notification release;
  {
    RefreshQueue queue(10);
    ASSERT_TRUE(queue.Schedule("running", [&] {
      started.Notify();
      release.WaitForNotification();
      ++runs;
    }));
    started.WaitForNotification();
    ASSERT_TRUE(queue.Schedule("waiting", [&] { ++runs; }));
    std::thread releaser([&] {
      absl::SleepFor(absl::Milliseconds(20));
      release.Notify();
    });
    releaser.detach();
  }
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace loyalty
