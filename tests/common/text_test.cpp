// common/text.h: the helpers every module reads client text with.
#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace bgerase {
namespace {

TEST(Text, TrimLowerAndHexDigitAreAsciiOnly) {
  EXPECT_EQ(Trim(" \t\r\n x y \f\v"), "x y");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Lower("AbC-Z\xC3\x89"), "abc-z\xC3\x89");  // É is left alone
  EXPECT_EQ(HexDigit('7'), 7);
  EXPECT_EQ(HexDigit('f'), 15);
  EXPECT_EQ(HexDigit('F'), 15);
  EXPECT_EQ(HexDigit('g'), -1);
}

TEST(Text, EchoIsValidUtf8AndCappedOnACodePointBoundary) {
  EXPECT_EQ(Echo("plain"), "plain");
  EXPECT_EQ(Echo("a\xFF"
                 "b"),
            "a\xEF\xBF\xBD"
            "b");                                                // an invalid byte
  EXPECT_EQ(Echo("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");       // an overlong '/'
  EXPECT_EQ(Echo("\xED\xA0\x80").substr(0, 3), "\xEF\xBF\xBD");  // a surrogate
  // 3-byte characters up to the cap: the cut never splits one, and says it cut.
  std::string euros;
  for (int i = 0; i < 200; ++i) euros += "\xE2\x82\xAC";
  const std::string echoed = Echo(euros);
  EXPECT_LE(echoed.size(), kMaxEchoBytes + 3);
  EXPECT_EQ(echoed.substr(echoed.size() - 3), "\xE2\x80\xA6");
  EXPECT_EQ((echoed.size() - 3) % 3, 0u);
  EXPECT_EQ(Echo(std::string(40'000'000, 'x')).size(), kMaxEchoBytes + 3);
}

}  // namespace
}  // namespace bgerase
