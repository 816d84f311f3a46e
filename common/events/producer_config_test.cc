#include "common/events/producer.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace loyalty::events {
namespace {

TEST(ProducerConfig, DefaultsWhenUnset) {
  config::EnvReader reader(config::MapEnv({}));
  const ProducerConfig config = ReadProducerConfig(reader, "POINTS");
  EXPECT_EQ(config.number_gap, kNotifyGapDefault);
  EXPECT_EQ(config.stream.page_size, 500);
  EXPECT_EQ(config.retention, absl::Hours(168));
}

TEST(ProducerConfig, ReadsTheServicesOwnVariables) {
  config::EnvReader reader(config::MapEnv({{"LOYALTY_REWARDS_OUTBOX_NUMBER_GAP_MS", "0"},
                                           {"LOYALTY_POINTS_OUTBOX_NUMBER_GAP_MS", "500"}}));
  EXPECT_EQ(ReadProducerConfig(reader, "REWARDS").number_gap, absl::ZeroDuration());
  EXPECT_EQ(ReadProducerConfig(reader, "POINTS").number_gap, absl::Milliseconds(500));
}

TEST(ProducerConfig, ANumberGapOutOfRangeIsAnError) {
  config::EnvReader reader(config::MapEnv({{"LOYALTY_POINTS_OUTBOX_NUMBER_GAP_MS", "1001"}}));
  ReadProducerConfig(reader, "POINTS");
  EXPECT_FALSE(reader.status().ok());
}

}  // namespace
}  // namespace loyalty::events
