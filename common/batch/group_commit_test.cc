#include "common/batch/group_commit.h"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loyalty::batch {
namespace {

struct Job {
  std::string key;
  int sequence = 0;
  int batch = -1;  // Which batch wrote it.
};

// Records every batch the writer gets.
class Recorder {
 public:
  void Write(std::span<const std::shared_ptr<Job>> jobs) {
    absl::MutexLock lock(&mutex_);
    const int batch = static_cast<int>(batches_.size());
    batches_.emplace_back();
    for (const auto& job : jobs) {
      job->batch = batch;
      batches_.back().push_back(job->key);
    }
  }
  std::vector<std::vector<std::string>> batches() const {
    absl::MutexLock lock(&mutex_);
    return batches_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::vector<std::vector<std::string>> batches_ ABSL_GUARDED_BY(mutex_);
};

TEST(GroupCommitQueue, EveryJobIsWrittenOnceAndConcurrentJobsShareBatches) {
  Recorder recorder;
  std::atomic<int> written = 0;
  GroupCommitQueue<Job> queue({.max_batch = 16, .max_queued = 1000, .writers = 2},
                              [&](std::span<const std::shared_ptr<Job>> jobs) {
                                recorder.Write(jobs);
                                written += static_cast<int>(jobs.size());
                                absl::SleepFor(absl::Milliseconds(2));  // A commit's fsync.
                              });
  std::vector<std::thread> callers;
  std::atomic<int> ok = 0;
  for (int i = 0; i < 200; ++i) {
    callers.emplace_back([&, i] {
      auto job = std::make_shared<Job>(Job{.key = absl::StrCat("k", i)});
      if (queue.Run(job, job->key, absl::InfiniteFuture()).ok() && job->batch >= 0) ++ok;
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(written, 200);
  const auto batches = recorder.batches();
  EXPECT_LT(batches.size(), 200u) << "no two concurrent jobs ever shared a batch";
  for (const auto& batch : batches) EXPECT_LE(batch.size(), 16u);
}

TEST(GroupCommitQueue, JobsOfOneKeyNeverShareABatchAndKeepTheirOrder) {
  std::mutex order_mutex;
  std::vector<int> order;
  Recorder recorder;
  absl::Notification release;
  GroupCommitQueue<Job> queue({.max_batch = 64, .max_queued = 100, .writers = 2},
                              [&](std::span<const std::shared_ptr<Job>> jobs) {
                                release.WaitForNotification();
                                recorder.Write(jobs);
                                std::lock_guard lock(order_mutex);
                                for (const auto& job : jobs) {
                                  if (job->key == "same") order.push_back(job->sequence);
                                }
                              });
  // Submit queues before it returns, so the jobs are queued in this order for certain (threads
  // calling Run after a short sleep each were reordered on a loaded machine).
  std::vector<std::unique_ptr<absl::Notification>> written;
  for (int i = 0; i < 5; ++i) {
    written.push_back(std::make_unique<absl::Notification>());
    absl::Notification* done = written.back().get();
    auto job = std::make_shared<Job>(Job{.key = "same", .sequence = i});
    ASSERT_TRUE(queue.Submit(job, job->key, [done] { done->Notify(); }).ok());
  }
  release.Notify();
  for (const auto& done : written) done->WaitForNotification();
  for (const auto& batch : recorder.batches()) {
    EXPECT_LE(std::count(batch.begin(), batch.end(), "same"), 1);
  }
  EXPECT_THAT(order, testing::ElementsAre(0, 1, 2, 3, 4));
}

TEST(GroupCommitQueue, AFullQueueRefusesAndALateCallerGetsDeadlineExceeded) {
  absl::Notification release;
  absl::Notification writing;
  GroupCommitQueue<Job> queue({.max_batch = 1, .max_queued = 1, .writers = 1},
                              [&](std::span<const std::shared_ptr<Job>>) {
                                if (!writing.HasBeenNotified()) writing.Notify();
                                release.WaitForNotification();
                              });
  // The first job occupies the writer, the second fills the queue.
  std::thread first(
      [&] { EXPECT_TRUE(queue.Run(std::make_shared<Job>(), "a", absl::InfiniteFuture()).ok()); });
  writing.WaitForNotification();
  auto second = std::make_shared<Job>();
  EXPECT_EQ(queue.Run(second, "b", absl::Now() + absl::Milliseconds(20)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(queue.Run(std::make_shared<Job>(), "c", absl::InfiniteFuture()).code(),
            absl::StatusCode::kResourceExhausted);
  release.Notify();
  first.join();
}

TEST(GroupCommitQueue, StoppingWritesWhatIsQueued) {
  std::atomic<int> written = 0;
  std::atomic<int> in_writer = 0;
  absl::Notification release;
  std::vector<std::thread> callers;
  {
    GroupCommitQueue<Job> queue({.max_batch = 4, .max_queued = 100, .writers = 1},
                                [&](std::span<const std::shared_ptr<Job>> jobs) {
                                  in_writer = static_cast<int>(jobs.size());
                                  release.WaitForNotification();
                                  written += static_cast<int>(jobs.size());
                                });
    for (int i = 0; i < 20; ++i) {
      callers.emplace_back([&queue, i] {
        EXPECT_TRUE(
            queue.Run(std::make_shared<Job>(), absl::StrCat(i), absl::InfiniteFuture()).ok());
      });
    }
    while (queue.queued() + in_writer < 20) absl::SleepFor(absl::Milliseconds(1));
    release.Notify();
  }  // The destructor writes what is still queued before it joins the writer.
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(written, 20);
}

}  // namespace
}  // namespace loyalty::batch
