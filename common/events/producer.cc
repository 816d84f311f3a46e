#include "common/events/producer.h"

#include "absl/strings/str_cat.h"
#include "common/events/outbox.h"
#include "common/log/log.h"

namespace loyalty::events {
namespace {

std::string Var(const std::string& prefix, std::string_view name) {
  return absl::StrCat("LOYALTY_", prefix, "_", absl::string_view(name.data(), name.size()));
}

}  // namespace

ProducerConfig ReadProducerConfig(config::EnvReader& reader, const std::string& prefix) {
  ProducerConfig config;
  config.stream.page_size =
      static_cast<int>(reader.Int(Var(prefix, "EVENTS_PAGE_SIZE"), 500, 1, kPageSizeMax));
  config.stream.max_subscribers =
      static_cast<int>(reader.Int(Var(prefix, "EVENTS_MAX_SUBSCRIBERS"), 16, 1, 256));
  config.stream.stream_lifetime = absl::Milliseconds(
      reader.Int(Var(prefix, "EVENTS_STREAM_LIFETIME_MS"), 300'000, 1'000, 86'400'000));
  config.stream.poll_interval =
      absl::Milliseconds(reader.Int(Var(prefix, "EVENTS_POLL_INTERVAL_MS"), 5'000, 100, 600'000));
  config.retention =
      absl::Hours(reader.Int(Var(prefix, "OUTBOX_RETENTION_HOURS"), 168, 1, 24 * 366));
  config.prune_interval = absl::Milliseconds(
      reader.Int(Var(prefix, "OUTBOX_PRUNE_INTERVAL_MS"), 60'000, 1'000, 86'400'000));
  // At least two days: a live consumer registers again with every stream, and a stream lasts at
  // most a day (EVENTS_STREAM_LIFETIME_MS).
  config.consumer_expiry =
      absl::Hours(reader.Int(Var(prefix, "OUTBOX_CONSUMER_EXPIRY_HOURS"), 720, 48, 24 * 366));
  config.number_gap = absl::Milliseconds(reader.Int(
      Var(prefix, "OUTBOX_NUMBER_GAP_MS"), absl::ToInt64Milliseconds(kNotifyGapDefault), 0, 1'000));
  return config;
}

std::vector<std::pair<std::string, std::string>> ProducerConfigHelp(const std::string& prefix) {
  return {
      {Var(prefix, "EVENTS_PAGE_SIZE"), "events read per Subscribe page, 1-1000 (default: 500)"},
      {Var(prefix, "EVENTS_MAX_SUBSCRIBERS"), "Subscribe streams at once, 1-256 (default: 16)"},
      {Var(prefix, "EVENTS_STREAM_LIFETIME_MS"),
       "a stream ends after this, the consumer resubscribes (default: 300000)"},
      {Var(prefix, "EVENTS_POLL_INTERVAL_MS"),
       "fallback poll and heartbeat of idle streams (default: 5000)"},
      {Var(prefix, "OUTBOX_RETENTION_HOURS"),
       "events are kept at least this long, 1-8784 (default: 168)"},
      {Var(prefix, "OUTBOX_PRUNE_INTERVAL_MS"), "how often old events are pruned (default: 60000)"},
      {Var(prefix, "OUTBOX_CONSUMER_EXPIRY_HOURS"),
       "a consumer that has not subscribed for this long no longer holds pruning back, 48-8784 "
       "(default: 720)"},
      {Var(prefix, "OUTBOX_NUMBER_GAP_MS"),
       absl::StrCat("commits within this share one numbering round and NOTIFY, 0-1000 (default: ",
                    absl::ToInt64Milliseconds(kNotifyGapDefault), ")")},
  };
}

Producer::Producer(pg::Pool& pool, const pg::ConnectionOptions& connection, const Clock& clock,
                   const ProducerConfig& config)
    : pool_(pool),
      clock_(clock),
      config_(config),
      listener_(connection, config.number_gap),
      server_(pool, listener_, clock, config.stream) {}

absl::StatusOr<int> Producer::PruneOnce() {
  const absl::Time now = clock_.Now();
  absl::StatusOr<std::vector<ForgottenConsumer>> forgotten =
      ForgetConsumers(pool_, now - config_.consumer_expiry);
  if (!forgotten.ok()) return forgotten.status();
  for (const ForgottenConsumer& gone : *forgotten) {
    log::Warning("outbox: a consumer that stopped subscribing no longer holds pruning back",
                 {{"consumer", gone.consumer},
                  {"after_sequence", std::to_string(gone.after_sequence)},
                  {"last_subscribed", absl::FormatTime(gone.subscribe_time)}});
  }
  absl::StatusOr<int64_t> pruned = PruneEvents(pool_, now - config_.retention, kPruneBatchMax);
  if (!pruned.ok()) return pruned.status();
  return static_cast<int>(*pruned);
}

}  // namespace loyalty::events
