// The dashboard's routes: GET /v1/queues (per stage type counts of the unfinished work, for
// anyone) and, unless ui.enabled is false, the web dashboard's static files under /ui/
// (src/jobnikd/ui, embedded by CMake; docs/dashboard.md).
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/embedded.h"
#include "domain/status.h"
#include "http/routes.h"

namespace jobnik::http {
namespace {

using domain::ErrorCode;

// Strict: only the dashboard's own files, no inline script or style, no framing.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string_view ContentTypeOf(std::string_view name) {
  const auto dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  return "text/plain; charset=utf-8";
}

const embedded::EmbeddedFile* UiFile(std::string_view name) {
  for (const auto& f : embedded::ui::Files()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Reply UiReply(const embedded::EmbeddedFile& f) {
  return {200,
          std::string(f.content),
          {{"Content-Type", std::string(ContentTypeOf(f.name))},
           {"Content-Security-Policy", kContentSecurityPolicy},
           {"X-Content-Type-Options", "nosniff"},
           {"X-Frame-Options", "DENY"},
           {"Referrer-Policy", "no-referrer"},
           {"Cache-Control", "no-cache"}}};
}

Reply Redirect(const char* to) {
  return {302, "", {{"Location", to}, {"Content-Type", "text/plain; charset=utf-8"}}};
}

}  // namespace

void AddQueueRoutes(std::vector<Route>& routes, store::Store& st) {
  const RouteAdder add{routes};
  add("GET", "/v1/queues", "/v1/queues", {}, [&st](Call&) -> Reply {
    auto stats = st.GetQueueStats();
    if (!stats.ok()) return ErrorReply(stats.status());
    nlohmann::json types = nlohmann::json::array();
    for (const auto& t : stats->tasks) {
      types.push_back({{"stageType", t.stage_type},
                       {"pending", t.pending},
                       {"inProgress", t.in_progress},
                       {"retried", t.retried},
                       {"oldestPendingSeconds", t.oldest_pending_seconds ? nlohmann::json(*t.oldest_pending_seconds)
                                                                         : nlohmann::json(nullptr)}});
    }
    nlohmann::json jobs = nlohmann::json::object();
    for (const auto s : {domain::JobStatus::kCreated, domain::JobStatus::kPending, domain::JobStatus::kInProgress,
                         domain::JobStatus::kPaused}) {
      jobs[std::string(domain::ToString(s))] = 0;
    }
    for (const auto& [status, n] : stats->jobs) jobs[std::string(domain::ToString(status))] = n;
    return {200, nlohmann::json{{"stageTypes", types}, {"jobs", jobs}}.dump(), {}};
  });
}

void AddUiRoutes(std::vector<Route>& routes) {
  const RouteAdder add{routes};
  add("GET", "/", "/", {}, [](Call&) { return Redirect("/ui/"); });
  add("GET", "/ui", "/ui", {}, [](Call&) { return Redirect("/ui/"); });
  // The query parameters of the dashboard's own links (filters and pages).
  add("GET", "/ui/(.*)", "/ui/{path}", {"search", "status", "priority", "from", "to", "page"}, [](Call& c) -> Reply {
    const std::string path = c.req.matches[1];
    if (const auto* f = UiFile(path)) return UiReply(*f);
    // Not a file: one of the app's own pages (a shared link); the app routes it. An asset
    // that does not exist is a 404, never the page in its place.
    if (path.find('.') != std::string::npos) {
      return ErrorReply({ErrorCode::kRouteNotFound, "No dashboard file /ui/" + path});
    }
    return UiReply(*UiFile("index.html"));
  });
}

}  // namespace jobnik::http
