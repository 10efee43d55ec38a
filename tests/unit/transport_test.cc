// The HTTP transport on the wire: what its requests look like as TCP segments, seen by a
// raw socket server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "client/transport.h"
#include "tcp_segments.h"

namespace jobnik::client {
namespace {

// Answers every request on one accepted connection with 200 and an empty JSON object,
// and records how many data segments each request arrived in.
class SegmentCountingServer {
 public:
  SegmentCountingServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SegmentCountingServer() {
    ::shutdown(listener_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  SegmentCountingServer(const SegmentCountingServer&) = delete;
  SegmentCountingServer& operator=(const SegmentCountingServer&) = delete;

  int port() const { return port_; }
  // Data segments of each request, in order (read once the client has its answer).
  std::vector<unsigned> segments() const { return segments_; }

 private:
  void Serve() {
    const int conn = ::accept(listener_, nullptr, nullptr);
    if (conn < 0) return;
    std::string pending;
    unsigned before = test::DataSegmentsIn(conn);
    char buf[4096];
    for (;;) {
      const auto head_end = pending.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        if (const auto at = pending.find("Content-Length: "); at != std::string::npos && at < head_end) {
          length = std::stoul(pending.substr(at + 16));
        }
        if (pending.size() >= head_end + 4 + length) {
          pending.erase(0, head_end + 4 + length);
          const unsigned now = test::DataSegmentsIn(conn);
          segments_.push_back(now - before);
          before = now;
          const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
          if (::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
          continue;
        }
      }
      const auto n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
    }
    ::close(conn);
  }
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<unsigned> segments_;  // written by the server thread before each answer
};

TEST(HttpTransportTest, ARequestsHeadAndBodyLeaveInOneSegmentOnAnOpenConnection) {
  SegmentCountingServer server;
  {
    ClientOptions options;
    options.base_url = "http://127.0.0.1:" + std::to_string(server.port());
    auto transport = MakeHttpTransport(options);
    const std::string body(200, 'x');
    for (const char* method : {"PUT", "PUT", "POST", "PATCH", "GET"}) {
      HttpRequest request;
      request.method = method;
      request.path = "/v1/anything";
      if (std::string(method) != "GET") request.body = body;
      auto answer = transport->Send(request);
      ASSERT_TRUE(answer.ok()) << answer.status().message();
      EXPECT_EQ(answer->status, 200);
    }
  }  // the transport closes its connection: the server thread ends
  const auto segments = server.segments();
  ASSERT_EQ(segments.size(), 5U);
  // The first request opened the connection (its socket did not exist to be corked);
  // every later one is one segment, head and body together.
  EXPECT_EQ(segments[1], 1U);
  EXPECT_EQ(segments[2], 1U);
  EXPECT_EQ(segments[3], 1U);
  EXPECT_EQ(segments[4], 1U);
}

}  // namespace
}  // namespace jobnik::client
