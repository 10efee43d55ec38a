// jobnik-siege: holds hostile connections open against a jobnikd and measures how normal
// requests fare meanwhile (bench/run.sh scenario s; bench/README.md).
//
// Hostile connections, all on one epoll thread:
//   idle       sends one request, reads the answer, then stays silent on the open
//              connection; every --resend-s seconds (0: never) it sends another request,
//              so that a keep-alive timeout alone never closes it.
//   slowloris  sends a request line, then one header line every --header-every-s seconds,
//              never ending the head.
// A hostile connection the server closes is opened again after --reconnect-ms (what an
// attacker does); the closes are counted.
//
// Meanwhile two probe threads send GET --path every --probe-every-ms for --seconds: one on
// a fresh connection per request, one on a keep-alive connection; latency (connect
// included) p50/p99/max and errors of each. Prints one JSON object; exit status 0 unless
// the hostile connections could not be opened at all.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "stats.h"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;
using jobnik::bench::Round;
using namespace std::chrono_literals;

struct Args {
  std::string url;
  int idle = 1000;
  int slowloris = 200;
  double seconds = 30;
  double ramp_s = 20;
  double resend_s = 4;
  double header_every_s = 20;
  int reconnect_ms = 100;
  int probe_every_ms = 20;
  std::string path = "/v1/jobs";
  double hold_s = 0;  // > 0: only hold the hostile connections this long, no probes
};

struct Target {
  std::string host;
  int port = 0;
  sockaddr_in addr{};
};

bool ParseUrl(const std::string& url, Target& t) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  const std::string rest = url.substr(prefix.size());
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  t.host = rest.substr(0, colon);
  t.port = std::atoi(rest.substr(colon + 1).c_str());
  t.addr.sin_family = AF_INET;
  t.addr.sin_port = htons(static_cast<std::uint16_t>(t.port));
  return t.port > 0 && inet_pton(AF_INET, t.host.c_str(), &t.addr.sin_addr) == 1;
}

// ------------------------------------------------------------------ hostile connections

enum class Kind : std::uint8_t { kIdle, kSlowloris };
enum class Phase : std::uint8_t { kClosed, kConnecting, kOpen };

struct Conn {
  Kind kind = Kind::kIdle;
  Phase phase = Phase::kClosed;
  int fd = -1;
  Clock::time_point next{};  // next send (open) or reconnect (closed)
  int headers_sent = 0;
  bool ever_opened = false;
};

struct HostileStats {
  std::atomic<long long> closed_by_server_idle{0};
  std::atomic<long long> closed_by_server_slowloris{0};
  std::atomic<long long> connect_failures{0};
  std::atomic<int> open_idle{0};
  std::atomic<int> open_slowloris{0};
};

class Hostile {
 public:
  Hostile(const Args& a, const Target& t) : a_(a), t_(t) {
    epfd_ = epoll_create1(0);
    conns_.resize(static_cast<std::size_t>(a.idle + a.slowloris));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].kind = static_cast<int>(i) < a.idle ? Kind::kIdle : Kind::kSlowloris;
    }
    request_ = fmt::format("GET /liveness HTTP/1.1\r\nHost: {}:{}\r\n\r\n", t.host, t.port);
  }
  ~Hostile() {
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(epfd_);
  }
  Hostile(const Hostile&) = delete;
  Hostile& operator=(const Hostile&) = delete;

  // Opens every connection, spread over `ramp` (a burst of 1,200 connects overflows any
  // accept queue), then keeps them up until `stop`.
  void Run(const std::atomic<bool>& stop, Clock::duration ramp) {
    const auto start = Clock::now();
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].next = start + ramp * static_cast<long>(i) / static_cast<long>(conns_.size());
    }
    std::vector<epoll_event> events(256);
    while (!stop) {
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 20);
      for (int k = 0; k < n; ++k)
        OnEvent(conns_[events[static_cast<std::size_t>(k)].data.u32], events[static_cast<std::size_t>(k)].events);
      const auto now = Clock::now();
      for (auto& c : conns_) {
        if (now < c.next) continue;
        if (c.phase == Phase::kClosed) {
          Open(c, static_cast<std::uint32_t>(&c - conns_.data()));
        } else if (c.phase == Phase::kOpen) {
          Tick(c, now);
        } else {
          c.next = now + 1s;  // still connecting: look again later
        }
      }
    }
  }

  const HostileStats& stats() const { return stats_; }

 private:
  void Open(Conn& c, std::uint32_t index) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      ++stats_.connect_failures;
      c.next = Clock::now() + std::chrono::milliseconds(a_.reconnect_ms + 1000);
      return;
    }
    const int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&t_.addr), sizeof t_.addr);
    if (rc != 0 && errno != EINPROGRESS) {
      ++stats_.connect_failures;
      Drop(c, false);
      return;
    }
    c.phase = Phase::kConnecting;
    c.next = Clock::now() + 10s;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = index;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void OnEvent(Conn& c, std::uint32_t events) {
    if (c.phase == Phase::kConnecting && (events & EPOLLOUT)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        ++stats_.connect_failures;
        Drop(c, false);
        return;
      }
      c.phase = Phase::kOpen;
      c.ever_opened = true;
      ++(c.kind == Kind::kIdle ? stats_.open_idle : stats_.open_slowloris);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
      epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
      c.headers_sent = 0;
      c.next = Clock::now();  // first send at once
      Tick(c, c.next);
      return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      char buf[4096];
      for (;;) {
        const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) continue;  // an answer: read and forget
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        Drop(c, true);  // end of file or reset: the server closed it
        return;
      }
    }
  }

  void Tick(Conn& c, Clock::time_point now) {
    std::string out;
    if (c.kind == Kind::kIdle) {
      out = request_;
      c.next = a_.resend_s > 0
                   ? now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a_.resend_s))
                   : Clock::time_point::max();
    } else {
      out = c.headers_sent == 0 ? fmt::format("GET /v1/jobs HTTP/1.1\r\nHost: {}:{}\r\n", t_.host, t_.port)
                                : fmt::format("X-Slow-{}: x\r\n", c.headers_sent);
      ++c.headers_sent;
      c.next = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a_.header_every_s));
    }
    if (send(c.fd, out.data(), out.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) Drop(c, true);
  }

  void Drop(Conn& c, bool by_server) {
    if (c.phase == Phase::kOpen) {
      --(c.kind == Kind::kIdle ? stats_.open_idle : stats_.open_slowloris);
      if (by_server) ++(c.kind == Kind::kIdle ? stats_.closed_by_server_idle : stats_.closed_by_server_slowloris);
    }
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
    c.fd = -1;
    c.phase = Phase::kClosed;
    c.next = Clock::now() + std::chrono::milliseconds(a_.reconnect_ms);
  }

  const Args& a_;
  const Target& t_;
  int epfd_ = -1;
  std::vector<Conn> conns_;
  std::string request_;
  HostileStats stats_;
};

// ------------------------------------------------------------------ probes

struct ProbeResult {
  std::vector<float> us;
  long long errors = 0;
  std::vector<std::string> samples;
};

void Probe(const Args& a, const Target& t, bool keep_alive, const std::atomic<bool>& stop, ProbeResult& r) {
  std::unique_ptr<httplib::Client> kept;
  auto make = [&] {
    auto c = std::make_unique<httplib::Client>(t.host, t.port);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(10, 0);
    c->set_keep_alive(keep_alive);
    return c;
  };
  while (!stop) {
    const auto begin = Clock::now();
    if (!keep_alive || !kept) kept = make();
    auto res = kept->Get(a.path);
    const auto end = Clock::now();
    if (!res || res->status != 200) {
      ++r.errors;
      if (r.samples.size() < 5) {
        r.samples.push_back(res ? fmt::format("status {}", res->status) : httplib::to_string(res.error()));
      }
      kept.reset();
    } else {
      r.us.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(end - begin).count()));
    }
    std::this_thread::sleep_until(begin + std::chrono::milliseconds(a.probe_every_ms));
  }
}

json ProbeJson(const ProbeResult& r) {
  json j = jobnik::bench::Percentiles<json>(r.us);
  j["errors"] = r.errors;
  if (!r.samples.empty()) j["error_samples"] = r.samples;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobnik-siege: hold idle keep-alive and slowloris connections against jobnikd, measure normal requests",
               "jobnik-siege"};
  Args a;
  app.add_option("--url", a.url, "jobnikd base URL, http://IPv4:PORT")->required();
  app.add_option("--idle", a.idle, "idle keep-alive connections")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--slowloris", a.slowloris, "slowloris connections")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seconds", a.seconds, "seconds of probing")->capture_default_str();
  app.add_option("--ramp-s", a.ramp_s, "seconds over which the hostile connections are opened, before probing")
      ->capture_default_str();
  app.add_option("--resend-s", a.resend_s, "an idle connection sends another request this often (0: never)")
      ->capture_default_str();
  app.add_option("--header-every-s", a.header_every_s, "a slowloris connection sends a header line this often")
      ->capture_default_str();
  app.add_option("--reconnect-ms", a.reconnect_ms, "a closed hostile connection is opened again after this")
      ->capture_default_str();
  app.add_option("--probe-every-ms", a.probe_every_ms, "each probe thread sends a request this often")
      ->capture_default_str();
  app.add_option("--path", a.path, "the probes' GET path")->capture_default_str();
  app.add_option("--hold-s", a.hold_s, "> 0: only hold the hostile connections this long (no probes)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Target t;
  if (!ParseUrl(a.url, t)) {
    std::cerr << "jobnik-siege: --url must be http://IPv4:PORT, got '" << a.url << "'\n";
    return 2;
  }

  std::atomic<bool> stop_hostile{false};
  Hostile hostile(a, t);
  const auto ramp = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.ramp_s));
  std::thread hostile_thread([&] { hostile.Run(stop_hostile, ramp); });
  const auto& hs = hostile.stats();
  json out;
  if (a.hold_s > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(a.hold_s));
  } else {
    // Ramp up, then probe.
    std::this_thread::sleep_for(ramp);
    if (a.idle + a.slowloris > 0) std::this_thread::sleep_for(1s);
    out["held_at_start"] = {{"idle", hs.open_idle.load()}, {"slowloris", hs.open_slowloris.load()}};
    std::atomic<bool> stop_probes{false};
    ProbeResult fresh;
    ProbeResult kept;
    std::thread p1([&] { Probe(a, t, false, stop_probes, fresh); });
    std::thread p2([&] { Probe(a, t, true, stop_probes, kept); });
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    stop_probes = true;
    p1.join();
    p2.join();
    out["fresh"] = ProbeJson(fresh);
    out["keep_alive"] = ProbeJson(kept);
  }
  out["held_at_end"] = {{"idle", hs.open_idle.load()}, {"slowloris", hs.open_slowloris.load()}};
  out["closed_by_server"] = {{"idle", hs.closed_by_server_idle.load()},
                             {"slowloris", hs.closed_by_server_slowloris.load()}};
  out["connect_failures"] = hs.connect_failures.load();
  stop_hostile = true;
  hostile_thread.join();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
