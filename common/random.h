#pragma once

// Randomness for identifiers, codes and secrets: OpenSSL's CSPRNG, so ids and codes cannot be
// predicted from earlier ones. Services take a RandomSource so tests can make it deterministic.

#include <cstdint>
#include <functional>

namespace loyalty {

using RandomSource = std::function<uint64_t()>;

// 64 bits from RAND_bytes. Aborts if the CSPRNG fails: no identifier may be made without it.
uint64_t SecureRandomUint64();

}  // namespace loyalty
