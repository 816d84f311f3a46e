#include "common/validation/text.h"

#include <cstdint>

namespace loyalty {

std::optional<size_t> DisplayTextChars(std::string_view text) {
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    uint32_t code_point = 0;
    size_t length = 0;
    if (lead < 0x80) {
      code_point = lead;
      length = 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      code_point = lead & 0x1f;
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      code_point = lead & 0x0f;
      length = 3;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      code_point = lead & 0x07;
      length = 4;
    } else {
      return std::nullopt;  // a continuation byte, an overlong 2-byte lead, or beyond U+10FFFF
    }
    if (text.size() - i < length) return std::nullopt;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return std::nullopt;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    const bool overlong =
        (length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000);
    const bool surrogate = code_point >= 0xd800 && code_point <= 0xdfff;
    const bool control = code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f);
    if (overlong || surrogate || control || code_point > 0x10ffff) return std::nullopt;
    ++chars;
    i += length;
  }
  return chars;
}

}  // namespace loyalty
