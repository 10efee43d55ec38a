// Token helpers and modes (http/auth.h).
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "http/auth.h"

namespace jobnik::http {
namespace {

TEST(AuthTokens, NewTokensAreLongRandomAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string t = NewToken();
    EXPECT_TRUE(std::regex_match(t, std::regex("^jnk_[0-9a-f]{64}$"))) << t;
    EXPECT_TRUE(seen.insert(t).second);
  }
}

TEST(AuthTokens, TheHashIsSha256Hex) {
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTokens, NamesAreChecked) {
  EXPECT_TRUE(ValidateTokenName("ci-nightly").ok());
  EXPECT_TRUE(ValidateTokenName("worker@host1.example").ok());
  EXPECT_TRUE(ValidateTokenName(std::string(64, 'a')).ok());
  for (const char* bad : {"", "-x", "a b", "ä", "x/y"}) {
    auto s = ValidateTokenName(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.message().rfind("name: ", 0), 0u) << s.message();
  }
  EXPECT_FALSE(ValidateTokenName(std::string(65, 'a')).ok());
}

TEST(AuthTokens, ModesParse) {
  EXPECT_EQ(ParseAuthMode("auto"), AuthMode::kAuto);
  EXPECT_EQ(ParseAuthMode("required"), AuthMode::kRequired);
  EXPECT_EQ(ParseAuthMode("off"), AuthMode::kOff);
  EXPECT_FALSE(ParseAuthMode("on").has_value());
  for (auto m : {AuthMode::kAuto, AuthMode::kRequired, AuthMode::kOff}) EXPECT_EQ(ParseAuthMode(ToString(m)), m);
}

}  // namespace
}  // namespace jobnik::http
