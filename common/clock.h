#pragma once

// Time as a dependency. Services read the clock only through a Clock, so tests can move time
// (tier windows, expiry) without sleeping; pure domain code takes `absl::Time now` instead.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace loyalty {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace loyalty
