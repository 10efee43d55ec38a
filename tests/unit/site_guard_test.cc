// Unit tests of http/site_guard.h: the Host allowlist (DNS rebinding) and the Origin /
// Sec-Fetch-Site check on state-changing requests (cross-site requests from web pages).
#include "http/site_guard.h"

#include <gtest/gtest.h>

namespace jobnik::http {
namespace {

bool Allowed(const SiteGuard& g, std::string_view method, std::string_view host, std::string_view origin = "",
             std::string_view fetch_site = "") {
  return !g.Check(method, "/v1/jobs", host, origin, fetch_site).has_value();
}

TEST(HostName, DropsThePortTheBracketsAndATrailingDotAndLowersTheCase) {
  EXPECT_EQ(HostName("LocalHost:8080"), "localhost");
  EXPECT_EQ(HostName("example.com."), "example.com");
  EXPECT_EQ(HostName("[::1]:8080"), "::1");
  EXPECT_EQ(HostName("[::1]"), "::1");
  EXPECT_EQ(HostName("::1"), "::1");
  EXPECT_EQ(HostName("[::1"), "");
  EXPECT_EQ(HostName("[::1]x"), "");
}

TEST(SplitList, TrimsAndSkipsEmptyItems) {
  EXPECT_EQ(SplitList(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
}

TEST(SiteGuard, OnLoopbackAnswersOnlyToLoopbackNamesAndTheListenHost) {
  const SiteGuard g("127.0.0.1", "", "");
  EXPECT_FALSE(g.any_host());
  for (const char* host :
       {"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "127.1.2.3", "app.localhost:1", ""}) {
    EXPECT_TRUE(Allowed(g, "GET", host)) << host;
  }
  // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
  for (const char* host : {"evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1"}) {
    const auto why = g.Check("GET", "/v1/jobs", host, "", "");
    ASSERT_TRUE(why.has_value()) << host;
    EXPECT_NE(why->find("http.allowed_hosts"), std::string::npos) << *why;
    EXPECT_NE(why->find(host), std::string::npos) << *why;
  }
}

TEST(SiteGuard, HealthChecksAnswerWhateverTheHost) {
  const SiteGuard g("127.0.0.1", "", "");
  EXPECT_FALSE(g.Check("GET", "/liveness", "10.1.2.3:8080", "", "").has_value());
  EXPECT_FALSE(g.Check("GET", "/readiness", "10.1.2.3:8080", "", "").has_value());
  EXPECT_TRUE(g.Check("GET", "/metrics", "10.1.2.3:8080", "", "").has_value());
}

TEST(SiteGuard, ElsewhereAnswersToAnyHostUnlessTheListIsSet) {
  EXPECT_TRUE(SiteGuard("0.0.0.0", "", "").any_host());
  EXPECT_TRUE(Allowed(SiteGuard("0.0.0.0", "", ""), "GET", "jobs.internal:8080"));
  const SiteGuard g("0.0.0.0", "jobs.internal, 10.0.0.5", "");
  EXPECT_TRUE(Allowed(g, "GET", "jobs.internal:8080"));
  EXPECT_TRUE(Allowed(g, "GET", "10.0.0.5"));
  EXPECT_FALSE(Allowed(g, "GET", "other.internal"));
  EXPECT_FALSE(Allowed(g, "GET", "localhost"));  // a set list is the whole list
  EXPECT_TRUE(Allowed(SiteGuard("127.0.0.1", "*", ""), "GET", "anything.example"));
}

TEST(SiteGuard, RefusesStateChangesFromAnotherOrigin) {
  const SiteGuard g("127.0.0.1", "", "");
  // Same origin (e.g. the dashboard served by jobnikd itself).
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080", "http://localhost:8080"));
  EXPECT_TRUE(Allowed(g, "DELETE", "127.0.0.1:8080", "http://127.0.0.1:8080"));
  // Another site's page, another port of the same host, a sandboxed page.
  for (const char* origin : {"https://evil.example", "http://localhost:3000", "null"}) {
    const auto why = g.Check("POST", "/v1/jobs", "localhost:8080", origin, "");
    ASSERT_TRUE(why.has_value()) << origin;
    EXPECT_NE(why->find(origin), std::string::npos) << *why;
    EXPECT_NE(why->find("http.allowed_origins"), std::string::npos) << *why;
  }
  // Reads are never refused for their Origin (the browser keeps the answer from the page).
  EXPECT_TRUE(Allowed(g, "GET", "localhost:8080", "https://evil.example"));
  // No Origin: refused only when the browser says the page is of another site.
  EXPECT_FALSE(Allowed(g, "PUT", "localhost:8080", "", "cross-site"));
  EXPECT_FALSE(Allowed(g, "PATCH", "localhost:8080", "", "same-site"));
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080", "", "same-origin"));
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080", "", "none"));
  // curl, the SDKs, scripts: none of these headers.
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080"));
}

TEST(SiteGuard, AllowsTheConfiguredOrigins) {
  const SiteGuard g("127.0.0.1", "", "https://ops.example/, http://localhost:3000");
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080", "https://OPS.example"));
  EXPECT_TRUE(Allowed(g, "POST", "localhost:8080", "http://localhost:3000"));
  EXPECT_FALSE(Allowed(g, "POST", "localhost:8080", "https://ops.example:8443"));
}

}  // namespace
}  // namespace jobnik::http
