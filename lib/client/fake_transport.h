// A scripted server for unit tests of what is built on Client: answers from a queue of
// scripted replies, then from a handler function; records every request; can drop the
// connection before the "server" sees a request or after it acted on it. Thread-safe:
// one FakeTransport may serve many Clients (shared_ptr) on many threads.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "client/transport.h"

namespace jobnik::client {

class FakeTransport final : public Transport {
 public:
  // The "server": what it answers to a request (or an error Status, returned as is).
  using Handler = std::function<domain::Result<HttpResponse>(const HttpRequest&)>;

  // A lost connection: kBeforeServer fails the request without the handler seeing it;
  // kAfterServer lets the handler act (and consumes a scripted reply), then fails the
  // request as if the answer was lost on the way back.
  enum class Drop { kBeforeServer, kAfterServer };

  FakeTransport() = default;
  explicit FakeTransport(Handler handler) : handler_(std::move(handler)) {}

  void SetHandler(Handler handler);
  // Queues a reply: scripted replies are used in order before the handler.
  void Reply(int status, std::string body);
  void Reply(domain::Result<HttpResponse> reply);
  // The next `count` requests are dropped as said.
  void DropNext(Drop drop, int count = 1);

  // A streamed request (HttpRequest::on_body) gets a 2xx reply's body in pieces of this
  // many bytes (default 7, to cut lines and fields anywhere).
  void SetStreamPiece(std::size_t bytes);
  // Every request sent, in order (dropped ones too).
  std::vector<HttpRequest> requests() const;
  std::size_t request_count() const;
  // Requests the "server" acted on (not those dropped before it).
  std::size_t served_count() const;

  domain::Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  mutable std::mutex mu_;
  Handler handler_;
  std::deque<domain::Result<HttpResponse>> replies_;
  std::deque<Drop> drops_;
  std::vector<HttpRequest> requests_;
  std::size_t served_ = 0;
  std::size_t stream_piece_ = 7;
};

// A JSON reply.
HttpResponse JsonReply(int status, std::string body);

}  // namespace jobnik::client
