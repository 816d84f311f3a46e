#pragma once

// LOYALTY_CHECK guards invariants that only a programmer error can break. It is always on and
// aborts with the failed condition. Never CHECK what the network, the database or a request can
// make false: return an absl::Status instead.

#include <cstdio>
#include <cstdlib>

#define LOYALTY_CHECK(condition)                                                                 \
  do {                                                                                           \
    if (!(condition)) [[unlikely]] {                                                             \
      std::fprintf(stderr, "%s:%d: LOYALTY_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)
