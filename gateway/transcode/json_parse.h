#pragma once

// A fast path for reading request bodies, the counterpart of json_print.h's printer.
//
// protobuf's parser (util::JsonStringToMessage) resolves the message's type into a type
// description, streams the JSON through an object writer into protobuf's binary form and parses
// those bytes back: profiling scripts/bench-gateway showed it taking 13% of the gateway's CPU on
// the purchase route, more than the reflection walk that printed the answer. Most request bodies
// are an object of plain fields (ASCII strings without escapes, integers, booleans, enums by name,
// nested messages and lists of those), which a walk over the text setting fields by reflection
// reads in a fraction of the time.
//
// The fast path only ever accepts: anything it is not certain about (escapes, non-ASCII text,
// floating point, bytes, maps, oneofs, well-known types, null, a key given twice, numbers in
// exponent form, any syntax or schema error) makes it give up, and the caller parses the same text
// with protobuf's parser, whose answer, error messages included, then stands. What it accepts, it
// must read into exactly the message protobuf would: json_parse_test checks that against protobuf
// on every field type, and the fuzzer (gateway/fuzz) on arbitrary input.

#include <string_view>

#include "google/protobuf/message.h"

namespace loyalty::gateway {

// Parses `json` into `message`, which must be empty, and returns true; or returns false, leaving
// `message` in an unspecified state (Clear() it), when the text is not one the fast path reads
// with certainty. Never fails in any other way.
bool ParseJsonFastPath(std::string_view json, google::protobuf::Message& message);

}  // namespace loyalty::gateway
