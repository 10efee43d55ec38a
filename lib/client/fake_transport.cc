#include "client/fake_transport.h"

#include <optional>
#include <utility>

namespace jobnik::client {

HttpResponse JsonReply(int status, std::string body) {
  return HttpResponse{status, {{"Content-Type", "application/json"}}, std::move(body)};
}

void FakeTransport::SetHandler(Handler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

void FakeTransport::Reply(int status, std::string body) {
  Reply(JsonReply(status, std::move(body)));
}

void FakeTransport::Reply(domain::Result<HttpResponse> reply) {
  std::lock_guard lock(mu_);
  replies_.push_back(std::move(reply));
}

void FakeTransport::DropNext(Drop drop, int count) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < count; ++i) drops_.push_back(drop);
}

std::vector<HttpRequest> FakeTransport::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t FakeTransport::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

std::size_t FakeTransport::served_count() const {
  std::lock_guard lock(mu_);
  return served_;
}

void FakeTransport::SetStreamPiece(std::size_t bytes) {
  std::lock_guard lock(mu_);
  stream_piece_ = bytes == 0 ? 1 : bytes;
}

domain::Result<HttpResponse> FakeTransport::Send(const HttpRequest& request) {
  std::optional<Drop> drop;
  std::optional<domain::Result<HttpResponse>> scripted;
  Handler handler;
  std::size_t piece_size = 0;
  {
    std::lock_guard lock(mu_);
    piece_size = stream_piece_;
    requests_.push_back(request);
    if (!drops_.empty()) {
      drop = drops_.front();
      drops_.pop_front();
    }
    if (drop == Drop::kBeforeServer) return domain::Unavailable("cannot reach jobnikd: connection refused (fake)");
    ++served_;
    if (!replies_.empty()) {
      scripted = std::move(replies_.front());
      replies_.pop_front();
    } else {
      handler = handler_;
    }
  }
  // The handler runs outside the lock: it may block (a slow server) or send more.
  domain::Result<HttpResponse> reply =
      scripted  ? std::move(*scripted)
      : handler ? handler(request)
                : domain::Result<HttpResponse>(domain::Unavailable("cannot reach jobnikd: no reply scripted for " +
                                                                   request.method + " " + request.path + " (fake)"));
  if (drop == Drop::kAfterServer) return domain::Unavailable("cannot reach jobnikd: connection lost (fake)");
  if (request.on_body && reply.ok() && reply->status / 100 == 2) {
    // A stream: the body in pieces of piece_size bytes, then the end of the answer.
    std::string_view body = reply->body;
    while (!body.empty()) {
      const auto piece = body.substr(0, piece_size);
      body.remove_prefix(piece.size());
      if (!request.on_body(piece)) break;
    }
    reply->body.clear();
  }
  return reply;
}

}  // namespace jobnik::client
