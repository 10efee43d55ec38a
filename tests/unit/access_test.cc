// Roles and access classes (domain/access.h); the route table is tested route by route
// over HTTP in tests/integration/auth_test.cc.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "domain/access.h"

namespace jobnik::domain {
namespace {

TEST(Access, RolesParseFromTheirNamesAndNothingElse) {
  for (Role r : kRoles) EXPECT_EQ(ParseRole(ToString(r)).value(), r);
  auto bad = ParseRole("Admin", "--role");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "--role must be one of admin, producer, worker, reader (got 'Admin')");
  EXPECT_FALSE(ParseRole("").ok());
}

TEST(Access, EachRoleIsAllowedExactlyItsClasses) {
  // open, metrics, read, work, annotate, produce, admin
  const std::vector<Access> classes = {Access::kOpen,     Access::kMetrics, Access::kRead, Access::kWork,
                                       Access::kAnnotate, Access::kProduce, Access::kAdmin};
  const std::map<Role, std::string> allowed = {
      {Role::kAdmin, "1111111"}, {Role::kProducer, "1110110"}, {Role::kWorker, "1111100"}, {Role::kReader, "1110000"}};
  for (const auto& [role, mask] : allowed) {
    for (std::size_t i = 0; i < classes.size(); ++i) {
      EXPECT_EQ(Allows(role, classes[i]), mask[i] == '1') << ToString(role) << " " << ToString(classes[i]);
    }
  }
}

TEST(Access, UnlistedRoutesAreReadsWhenGetAndAdminOtherwise) {
  EXPECT_EQ(AccessOf("GET", "/v1/some-new-thing"), Access::kRead);
  EXPECT_EQ(AccessOf("POST", "/v1/some-new-thing"), Access::kAdmin);
  EXPECT_EQ(AccessOf("DELETE", "/v1/jobs/{jobId}"), Access::kAdmin);
  EXPECT_EQ(AccessOf("GET", "/liveness"), Access::kOpen);
  EXPECT_EQ(AccessOf("GET", "/metrics"), Access::kMetrics);
  EXPECT_EQ(AccessOf("POST", "/v1/tasks/claim"), Access::kWork);
  EXPECT_EQ(AccessOf("PATCH", "/v1/tasks/{taskId}/user-metadata"), Access::kAnnotate);
  EXPECT_EQ(AccessOf("POST", "/v1/jobs"), Access::kProduce);
}

}  // namespace
}  // namespace jobnik::domain
