// Who may do what (docs/operations.md, "Security"): the roles a bearer token carries, and
// what each route of the API requires.
//
// Every route is in one access class, decided here in one table (AccessOf) by its method
// and template, so that the whole policy reads in one place and the API's own tests check
// that no route is missing (an unknown route falls to kAdmin: closed, not open).
//   open      /liveness, /readiness, /openapi.yaml and the dashboard's static files
//   metrics   /metrics: open, or any token, as auth.metrics says
//   read      every other GET
//   work      claiming (dequeue, batch claim), reporting, heartbeats
//   annotate  user-metadata updates of a job, stage or task (producers and workers both)
//   produce   creating jobs, stages and tasks; pause, resume, abort, priority, retries,
//             stage status
//   admin     deleting a job, concurrency limits
// Roles: reader (read), worker (read, work, annotate), producer (read, produce, annotate),
// admin (everything). A producer acts on every job, not only on those it created.
#pragma once

#include <array>
#include <string_view>

#include "domain/error.h"

namespace jobnik::domain {

enum class Role { kReader, kWorker, kProducer, kAdmin };

inline constexpr std::array<Role, 4> kRoles = {Role::kAdmin, Role::kProducer, Role::kWorker, Role::kReader};

// "admin", "producer", "worker", "reader".
std::string_view ToString(Role role);
// VALIDATION_ERROR naming `field` and the roles when `text` is none of them.
Result<Role> ParseRole(std::string_view text, std::string_view field = "role");

enum class Access { kOpen, kMetrics, kRead, kWork, kAnnotate, kProduce, kAdmin };

std::string_view ToString(Access access);

// The access class of the route `method` `route_template` (the template as in the
// access log and metrics, e.g. "/v1/jobs/{jobId}/status").
Access AccessOf(std::string_view method, std::string_view route_template);

// Whether a token of `role` may use a route of class `access` (kOpen: always; kMetrics:
// any role, when metrics need a token at all).
bool Allows(Role role, Access access);

}  // namespace jobnik::domain
