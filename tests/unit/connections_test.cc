// Unit tests of http::ConnectionTracker (src/jobnikd/http/connections.h) on a real
// cpp-httplib server over loopback TCP: which connections shutdown closes at once.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "http/connections.h"
#include "tcp_segments.h"

namespace jobnik::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A client socket connected to 127.0.0.1:port.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

void Send(int fd, const std::string& data) {
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

// Reads until `until` has arrived, the peer closes, or `timeout` passes. `closed` tells
// whether the peer closed (end of file or reset).
std::string Read(int fd, const std::string& until, std::chrono::milliseconds timeout, bool* closed = nullptr) {
  std::string got;
  const auto deadline = Clock::now() + timeout;
  if (closed) *closed = false;
  while (until.empty() || got.find(until) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

class ConnectionTrackerTest : public testing::Test {
 protected:
  void SetUp() override {
    server_.set_keep_alive_timeout(60);
    server_.set_read_timeout(60, 0);
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!tracker_.RequestStarted(req)) {
        res.status = 503;
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.path == "/echo") headers_in_.set_value();
      tracker_.CorkResponse(req);  // as jobnikd does
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
      tracker_.RequestFinished(req);
      ConnectionTracker::UncorkResponse();
    });
    server_.Get("/fast",
                [](const httplib::Request&, httplib::Response& res) { res.set_content("fast", "text/plain"); });
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      entered_.set_value();
      release_.get_future().wait();
      res.set_content("slow done", "text/plain");
    });
    server_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("echo " + req.body, "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = Clock::now() + 5s;
    while (!server_.is_running() && Clock::now() < deadline) std::this_thread::yield();
    ASSERT_TRUE(server_.is_running());
  }
  void TearDown() override {
    try {
      release_.set_value();  // a /slow handler left waiting would block the join
    } catch (const std::future_error&) {
    }
    Stop();
    if (thread_.joinable()) thread_.join();
  }
  // Stops accepting, as jobnikd does on SIGTERM (once: a second stop() asserts).
  void Stop() {
    if (!stopped_) server_.stop();
    stopped_ = true;
  }

  // The server logs a request (and the tracker lets go of it) just after the response is
  // written: wait for that before calling connections idle.
  void WaitNoneInFlight() {
    const auto deadline = Clock::now() + 5s;
    while (tracker_.InFlight() > 0 && Clock::now() < deadline) std::this_thread::yield();
    ASSERT_EQ(tracker_.InFlight(), 0u);
  }

  httplib::Server server_;
  ConnectionTracker tracker_;
  int port_ = 0;
  bool stopped_ = false;
  std::thread thread_;
  std::promise<void> entered_, release_, headers_in_;
};

TEST_F(ConnectionTrackerTest, IdleKeepAliveAndHalfSentHeadersAreClosedAtOnce) {
  // Both connections have been served once, so the server has certainly accepted them.
  const int idle = Connect(port_);
  const int half = Connect(port_);
  for (int fd : {idle, half}) {
    Send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_NE(Read(fd, "fast", 5s).find("fast"), std::string::npos);
  }
  WaitNoneInFlight();
  Send(half, "GET /fast HTTP/1.1\r\nHost: t\r\nX-Half: ");

  Stop();
  const auto start = Clock::now();
  EXPECT_EQ(tracker_.CloseIdle(port_), 2);
  for (int fd : {idle, half}) {
    bool closed = false;
    EXPECT_EQ(Read(fd, "", 5s, &closed), "");
    EXPECT_TRUE(closed);
    close(fd);
  }
  // Without the close, the workers would sit in the 60 s keep-alive and read timeouts.
  thread_.join();
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST_F(ConnectionTrackerTest, ARequestBeingHandledIsNotClosed) {
  const int fd = Connect(port_);
  Send(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(entered_.get_future().wait_for(5s), std::future_status::ready);
  Stop();
  EXPECT_EQ(tracker_.CloseIdle(port_), 0);
  release_.set_value();
  EXPECT_NE(Read(fd, "slow done", 5s).find("slow done"), std::string::npos);
  close(fd);
}

TEST_F(ConnectionTrackerTest, ARequestWhoseBodyIsStillArrivingIsInFlight) {
  const int fd = Connect(port_);
  Send(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_EQ(headers_in_.get_future().wait_for(5s), std::future_status::ready);
  Stop();
  EXPECT_EQ(tracker_.CloseIdle(port_), 0);
  Send(fd, "defghij");
  EXPECT_NE(Read(fd, "echo abcdefghij", 5s).find("echo abcdefghij"), std::string::npos);
  close(fd);
}

TEST_F(ConnectionTrackerTest, ARequestOnAConnectionClosedAsIdleDoesNotStart) {
  const int fd = Connect(port_);
  Send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_NE(Read(fd, "fast", 5s).find("fast"), std::string::npos);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
  WaitNoneInFlight();
  // The server keeps accepting here (jobnikd stops it first): once stopped, cpp-httplib may
  // close the idle connection itself before CloseIdle finds it.
  ASSERT_EQ(tracker_.CloseIdle(port_), 1);
  // As if its request head had been read just before the close.
  httplib::Request req;
  req.remote_addr = "127.0.0.1";
  req.remote_port = ntohs(local.sin_port);
  EXPECT_FALSE(tracker_.RequestStarted(req));
  req.remote_port = req.remote_port == 1 ? 2 : 1;
  EXPECT_TRUE(tracker_.RequestStarted(req));
  close(fd);
}

// ---------------------------------------------------------------- ConnectionGuard

// The guard on the same server: looks are made by the test (RunOnce), not a thread.
class ConnectionGuardTest : public ConnectionTrackerTest {
 protected:
  GuardSweep Look(ConnectionGuard& guard) { return guard.RunOnce(Clock::now()); }
  ConnectionGuardOptions Options(std::chrono::milliseconds header_timeout, std::size_t shed_above) {
    ConnectionGuardOptions o;
    o.port = port_;
    o.header_timeout = header_timeout;
    o.shed_above = shed_above;
    return o;
  }
  // A connection that has been served once (the server has certainly accepted it).
  int Served() {
    const int fd = Connect(port_);
    Send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_NE(Read(fd, "fast", 5s).find("fast"), std::string::npos);
    return fd;
  }
  // Looks until the server closes `fd` (true) or 5 s pass; `closes` counts what the
  // guard said it closed.
  bool LookUntilClosed(ConnectionGuard& guard, int fd, std::size_t& closes) {
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      const auto sweep = Look(guard);
      closes += sweep.closed_header_timeout + sweep.closed_idle;
      bool closed = false;
      Read(fd, "", 50ms, &closed);
      if (closed) return true;
    }
    return false;
  }
};

TEST_F(ConnectionGuardTest, AResponseLeavesInOneSegmentOnceTheGuardKnowsItsConnection) {
  ConnectionGuard guard(Options(0ms, 0), tracker_, nullptr);
  const int fd = Connect(port_);
  const auto segments_of_a_request = [fd] {
    const unsigned before = test::DataSegmentsIn(fd);
    Send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_NE(Read(fd, "fast", 5s).find("fast"), std::string::npos);
    return test::DataSegmentsIn(fd) - before;
  };
  // Before the guard has seen the connection its socket is not known: head, then body.
  EXPECT_EQ(segments_of_a_request(), 2U);
  Look(guard);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(segments_of_a_request(), 1U) << "request " << i;
  close(fd);
}

TEST_F(ConnectionGuardTest, AHeadStillArrivingAfterTheHeaderTimeoutIsClosed) {
  ConnectionGuard guard(Options(300ms, 0), tracker_, nullptr);
  const int idle = Served();
  WaitNoneInFlight();
  const int slow = Connect(port_);
  const auto start = Clock::now();
  Send(slow, "GET /fast HTTP/1.1\r\nHost: t\r\n");  // never finished
  std::size_t closes = 0;
  ASSERT_TRUE(LookUntilClosed(guard, slow, closes));
  // Not before the timeout, give or take the kernel's clock for the last byte (jiffies:
  // up to 4 ms at 250 Hz, so a head can look begun a tick before `start`).
  EXPECT_GE(Clock::now() - start, 300ms - 10ms);
  EXPECT_EQ(closes, 1u);
  // The idle keep-alive connection was left alone, and still serves.
  Send(idle, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(Read(idle, "fast", 5s).find("fast"), std::string::npos);
  close(slow);
  close(idle);
}

TEST_F(ConnectionGuardTest, ASecondRequestsSlowHeadIsClosedToo) {
  ConnectionGuard guard(Options(300ms, 0), tracker_, nullptr);
  const int fd = Served();
  WaitNoneInFlight();
  auto sweep = Look(guard);
  EXPECT_EQ(sweep.open, 1u);
  EXPECT_EQ(sweep.idle, 1u);
  EXPECT_EQ(sweep.receiving, 0u);
  // Bytes more than the kernel clock's margin (10 ms) after the answer are a head arriving.
  std::this_thread::sleep_for(50ms);
  Send(fd, "GET /fast HTTP/1.1\r\nX-Slow: ");
  EXPECT_EQ(Look(guard).receiving, 1u);
  std::size_t closes = 0;
  EXPECT_TRUE(LookUntilClosed(guard, fd, closes));
  EXPECT_EQ(closes, 1u);
  close(fd);
}

TEST_F(ConnectionGuardTest, AboveTheLimitTheLongestIdleAreClosedAndRequestsInFlightStay) {
  ConnectionGuard guard(Options(0ms, 2), tracker_, nullptr);
  const int oldest = Served();
  WaitNoneInFlight();
  const int newer = Served();
  WaitNoneInFlight();
  const int busy = Connect(port_);
  Send(busy, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(entered_.get_future().wait_for(5s), std::future_status::ready);
  // Three open, two allowed: the longest idle goes.
  std::size_t closes = 0;
  EXPECT_TRUE(LookUntilClosed(guard, oldest, closes));
  EXPECT_EQ(closes, 1u);
  const auto sweep = Look(guard);
  EXPECT_EQ(sweep.open, 2u);
  EXPECT_EQ(sweep.in_flight, 1u);
  EXPECT_EQ(sweep.closed_idle, 0u);
  release_.set_value();
  EXPECT_NE(Read(busy, "slow done", 5s).find("slow done"), std::string::npos);
  Send(newer, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(Read(newer, "fast", 5s).find("fast"), std::string::npos);
  for (int fd : {oldest, newer, busy}) close(fd);
}

TEST_F(ConnectionGuardTest, AtOrBelowTheLimitNothingIsClosed) {
  ConnectionGuard guard(Options(0ms, 2), tracker_, nullptr);
  const int a = Served();
  const int b = Served();
  WaitNoneInFlight();
  const auto sweep = Look(guard);
  EXPECT_EQ(sweep.open, 2u);
  EXPECT_EQ(sweep.closed_idle, 0u);
  for (int fd : {a, b}) {
    Send(fd, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_NE(Read(fd, "fast", 5s).find("fast"), std::string::npos);
    close(fd);
  }
}

// The server's name for the client end of `fd` (Request::remote_addr, remote_port).
ConnectionTracker::Peer PeerOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  return {"127.0.0.1", ntohs(addr.sin_port)};
}

TEST_F(ConnectionGuardTest, AWatchedRequestWhoseClientHangsUpIsReportedOnce) {
  ConnectionGuard guard(Options(0ms, 0), tracker_, nullptr);
  const int other = Connect(port_);  // in flight too, not watched
  const int fd = Connect(port_);
  Send(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  entered_.get_future().wait();
  Send(other, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf");  // body still arriving
  headers_in_.get_future().wait();
  std::atomic<int> calls{0};
  const auto peer = PeerOf(fd);
  tracker_.Watch(peer, [&calls] { ++calls; });
  EXPECT_FALSE(tracker_.ClientGone(peer)) << "its socket is not known before the guard looked";
  auto sweep = Look(guard);
  EXPECT_EQ(sweep.in_flight, 2u);
  EXPECT_EQ(sweep.hung_up, 0u) << "reported while the client is still there";
  EXPECT_FALSE(tracker_.ClientGone(peer));
  close(other);
  close(fd);
  // The request's own look sees it at once, before the guard's next look.
  const auto gone_by = Clock::now() + 5s;
  while (!tracker_.ClientGone(peer) && Clock::now() < gone_by) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(tracker_.ClientGone(peer));
  EXPECT_EQ(calls.load(), 0) << "ClientGone only looks";
  std::size_t hung_up = 0;
  const auto deadline = Clock::now() + 5s;
  while (hung_up == 0 && Clock::now() < deadline) hung_up += Look(guard).hung_up;
  EXPECT_EQ(hung_up, 1u) << "only the watched request counts";
  EXPECT_EQ(calls.load(), 1);
  // Its watch is gone: later looks call nothing.
  EXPECT_EQ(Look(guard).hung_up, 0u);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ConnectionTrackerTest, AnUnwatchedPeersHangUpCallsNothing) {
  int kept = 0, dropped = 0;
  const ConnectionTracker::Peer peer{"127.0.0.1", 4242};
  tracker_.Watch(peer, [&kept] { ++kept; });
  const auto id = tracker_.Watch(peer, [&dropped] { ++dropped; });
  tracker_.Unwatch(id);
  tracker_.HungUp({"127.0.0.1", 4243});
  EXPECT_EQ(kept + dropped, 0);
  tracker_.HungUp(peer);
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(dropped, 0);
  // A watch that ran is gone: a second hang-up calls nothing.
  tracker_.HungUp(peer);
  EXPECT_EQ(kept, 1);
}

}  // namespace
}  // namespace jobnik::http
