#pragma once

// Test data for printers and parsers of every message: Fill sets every field of a message to a
// value that is not its default.

#include "google/protobuf/message.h"

namespace loyalty::testkit {

// Sets every field of `message`, and of the messages in it down to `depth`, to a value that is
// not its default (repeated fields get two values), each value a little different through
// `counter`. Strings are plain ASCII, so that JSON fast paths can print them.
void Fill(google::protobuf::Message& message, int depth, int& counter);

}  // namespace loyalty::testkit
