#pragma once

// Text a person will read: names, descriptions, reasons.

#include <cstddef>
#include <optional>
#include <string_view>

namespace loyalty {

// The number of code points in `text` if it is valid UTF-8 (shortest form, no surrogates, at most
// U+10FFFF) without control characters (U+0000..U+001F, U+007F..U+009F); nullopt otherwise.
std::optional<size_t> DisplayTextChars(std::string_view text);

}  // namespace loyalty
