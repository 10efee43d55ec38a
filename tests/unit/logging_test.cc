// Unit tests of lib/common/logging.h: one log message is one line (issue #9, item 12).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/logging.h"

namespace jobnik::logging {
namespace {

std::string Escaped(std::string_view s) {
  std::string out;
  AppendEscapedText(out, s);
  return out;
}

TEST(AppendEscapedText, PrintableTextAndUtf8PassUnchanged) {
  EXPECT_EQ(Escaped("job 1 created (name h\xC3\xA9llo \xF0\x9F\x98\x80, 0 stages)"),
            "job 1 created (name h\xC3\xA9llo \xF0\x9F\x98\x80, 0 stages)");
  EXPECT_EQ(Escaped(""), "");
}

TEST(AppendEscapedText, LineBreaksCannotForgeALine) {
  const std::string forged = Escaped("name ab\n2026-11-30T00:00:00.000Z info  jobnikd: forged\r\n");
  EXPECT_EQ(forged.find('\n'), std::string::npos);
  EXPECT_EQ(forged.find('\r'), std::string::npos);
  EXPECT_EQ(forged, "name ab\\n2026-11-30T00:00:00.000Z info  jobnikd: forged\\r\\n");
}

TEST(AppendEscapedText, OtherControlCharactersBecomeHexEscapes) {
  EXPECT_EQ(Escaped("a\tb"), "a\\tb");
  EXPECT_EQ(Escaped("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(Escaped(std::string("\0\x07\x7f", 3)), "\\x00\\x07\\x7f");
}

TEST(AppendEscapedText, C1ControlsAndUnicodeLineSeparatorsAreEscaped) {
  EXPECT_EQ(Escaped("a\xC2\x85"
                    "b\xC2\x9B"
                    "c"),
            "a\\u0085b\\u009bc");  // NEL, CSI
  EXPECT_EQ(Escaped("a\xE2\x80\xA8"
                    "b\xE2\x80\xA9"),
            "a\\u2028b\\u2029");
  EXPECT_EQ(Escaped("\xC2\xA0"), "\xC2\xA0");  // NO-BREAK SPACE is text
}

TEST(AppendEscapedText, BytesThatAreNotUtf8BecomeHexEscapes) {
  EXPECT_EQ(Escaped("a\xFF"
                    "b\xE6\x97"),
            "a\\xffb\\xe6\\x97");
}

TEST(AppendEscapedText, AppendsToExistingText) {
  std::string out = "x: ";
  AppendEscapedText(out, "1\n2");
  EXPECT_EQ(out, "x: 1\\n2");
}

}  // namespace
}  // namespace jobnik::logging
