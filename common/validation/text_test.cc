#include "common/validation/text.h"

#include <string>

#include "gtest/gtest.h"

namespace loyalty {
namespace {

TEST(DisplayTextChars, CountsCodePointsOfValidUtf8) {
  EXPECT_EQ(DisplayTextChars(""), 0u);
  EXPECT_EQ(DisplayTextChars("Anna"), 4u);
  EXPECT_EQ(DisplayTextChars("Zoë"), 3u);               // 2-byte
  EXPECT_EQ(DisplayTextChars("東京"), 2u);              // 3-byte
  EXPECT_EQ(DisplayTextChars("\xf0\x9f\x8e\x81"), 1u);  // U+1F381, 4-byte
  EXPECT_EQ(DisplayTextChars("\xf4\x8f\xbf\xbf"), 1u);  // U+10FFFF
  EXPECT_EQ(DisplayTextChars("\xc2\xa0"), 1u);          // U+00A0, not a control character
}

TEST(DisplayTextChars, RejectsInvalidUtf8AndControlCharacters) {
  for (const std::string& text : {
           std::string("\x80"),              // lone continuation byte
           std::string("\xc3"),              // truncated
           std::string("\xe6\x9d"),          // truncated
           std::string("\xc3\x28"),          // bad continuation
           std::string("\xc0\xaf"),          // overlong '/'
           std::string("\xe0\x80\xaf"),      // overlong
           std::string("\xf0\x80\x80\xaf"),  // overlong
           std::string("\xed\xa0\x80"),      // surrogate U+D800
           std::string("\xf4\x90\x80\x80"),  // U+110000
           std::string("\xf8\x88\x80\x80\x80"), std::string("\xff"), std::string("a\0b", 3),
           std::string("tab\there"), std::string("new\nline"), std::string("del\x7f"),
           std::string("c1\xc2\x85"),  // U+0085 NEL
       }) {
    EXPECT_FALSE(DisplayTextChars(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace loyalty
