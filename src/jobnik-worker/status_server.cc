#include "status_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <cstring>
#include <utility>

#include "process/config.h"

namespace jobnik::worker {
namespace {

std::string JsonStatus(const std::string& status) {
  std::string out = R"({"status":")";
  for (const char c : status) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"}";
}

}  // namespace

domain::Status CheckListen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return domain::ValidationError(fmt::format("'{}' is not HOST:PORT (e.g. 127.0.0.1:9090)", listen));
  }
  long long port = 0;
  if (auto s = process::ParseInt(listen.substr(colon + 1), 0, 65535, port); !s.ok()) {
    return domain::ValidationError(fmt::format("'{}': the port {}", listen, s.message()));
  }
  return domain::Status::Ok();
}

domain::Result<std::unique_ptr<StatusServer>> StatusServer::Start(const std::string& listen,
                                                                  prometheus::Registry& registry, Readiness readiness) {
  JOBNIK_TRY(CheckListen(listen));
  const auto colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const int port = std::stoi(listen.substr(colon + 1));

  std::unique_ptr<StatusServer> self(new StatusServer());
  self->server_ = std::make_unique<httplib::Server>();
  auto& server = *self->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus::TextSerializer().Serialize(registry.Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(JsonStatus("ok"), "application/json");
  });
  server.Get("/readyz", [readiness = std::move(readiness)](const httplib::Request&, httplib::Response& res) {
    const std::string why = readiness ? readiness() : std::string();
    res.status = why.empty() ? 200 : 503;
    res.set_content(JsonStatus(why.empty() ? "ok" : why), "application/json");
  });

  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return domain::Unavailable(fmt::format("listen: cannot listen on {}: {}", listen, std::strerror(errno)));
  }
  self->address_ = fmt::format("{}:{}", host, bound);
  self->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return self;
}

StatusServer::~StatusServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace jobnik::worker
