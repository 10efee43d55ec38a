// The operational routes: /liveness, /readiness (503 while draining), /metrics
// (Prometheus text format) and /openapi.yaml (the built-in API description).
#include "http/routes.h"

#include <string>

#include "common/embedded.h"

namespace jobnik::http {

using domain::ErrorCode;

void AddOpsRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, const std::atomic<bool>& draining,
                  const std::function<bool()>& liveness) {
  const RouteAdder add{routes};
  add("GET", "/liveness", "/liveness", {}, [&liveness](Call&) -> Reply {
    if (liveness && !liveness()) return {503, R"({"status":"embedded database down"})", {}};
    return {200, R"({"status":"ok"})", {}};
  });
  add("GET", "/readiness", "/readiness", {}, [&draining, &st](Call&) -> Reply {
    if (draining) return {503, R"({"status":"draining"})", {}};
    if (auto s = st.Ping(); !s.ok()) return {503, R"({"status":"database unavailable"})", {}};
    return {200, R"({"status":"ok"})", {}};
  });
  add("GET", "/metrics", "/metrics", {}, [&m](Call&) -> Reply {
    return {200, m.Expose(), {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
  });
  add("GET", "/openapi.yaml", "/openapi.yaml", {}, [](Call&) -> Reply {
    for (const auto& f : embedded::docs::Files()) {
      if (f.name == "openapi.yaml") return {200, std::string(f.content), {{"Content-Type", "application/yaml"}}};
    }
    return ErrorReply({ErrorCode::kRouteNotFound, "No API description is built in"});
  });
}

}  // namespace jobnik::http
