// Which of the server's connections have a request in flight, so that shutdown can close
// the others at once instead of waiting for their keep-alive or read timeouts.
//
// A request is in flight from the moment its request line and headers have arrived (the
// pre-routing handler) until its response has been written (the server's logger): a
// request whose body is still arriving is in flight. A connection idle between requests,
// or still sending a request's headers, has none; neither has one whose bytes are still
// unread in the kernel unless they hold a complete request head.
#pragma once

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include <httplib.h>

namespace jobnik::http {

class ConnectionTracker {
 public:
  // From the pre-routing handler. False when shutdown has already closed this request's
  // connection: the request must not run (answer 503; the client never sees it).
  bool RequestStarted(const httplib::Request& req);
  // From the server's logger, which cpp-httplib calls once a response is written. A call
  // without RequestStarted (httplib answered on its own) is ignored.
  void RequestFinished(const httplib::Request& req);
  // Requests in flight now.
  std::size_t InFlight();

  // Shuts down (both directions) every connection this process accepted on TCP port
  // `port` that has no request in flight, and returns how many. Call after the server
  // has stopped accepting: workers blocked on those connections return at once.
  int CloseIdle(int port);

 private:
  using Peer = std::pair<std::string, int>;  // remote address and port
  std::mutex mu_;
  std::multiset<Peer> in_flight_;
  std::set<Peer> closed_;
};

}  // namespace jobnik::http
