#include "common/random.h"

#include "common/check.h"
#include "openssl/rand.h"

namespace loyalty {

uint64_t SecureRandomUint64() {
  uint64_t value = 0;
  LOYALTY_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof(value)) == 1);
  return value;
}

}  // namespace loyalty
