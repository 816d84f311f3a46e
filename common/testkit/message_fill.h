#pragma once

// Fills a protobuf message with values for tests of printers, parsers and hashes of every
// message (common/json, the gateway's JSON parser, idempotency).

#include "google/protobuf/message.h"

namespace loyalty::testkit {

struct FillOptions {
  // How deep nested messages are filled (0: only the top-level fields).
  int depth = 4;
  // Only fields the gateway's fast JSON parser reads (gateway/transcode/json_parse.h): no
  // floating point, bytes,
  // maps, oneofs or well-known types.
  bool fast_parse_only = false;
};

// Sets every field of `message`, and of the messages in it down to `options.depth`, to a value
// that is not its default (repeated fields get two values), each value a little different through
// `counter`. Strings are plain ASCII, so that the fast paths can print and read them. Timestamps
// get each fraction length protobuf prints (none, 3, 6, 9 digits); a FieldMask gets one path; the
// other well-known types are left unset.
void Fill(google::protobuf::Message& message, int& counter, const FillOptions& options = {});

}  // namespace loyalty::testkit
