// Which of the server's connections have a request in flight, so that shutdown can close
// the others at once instead of waiting for their keep-alive or read timeouts.
//
// A request is in flight from the moment its request line and headers have arrived (the
// pre-routing handler) until its response has been written (the server's logger): a
// request whose body is still arriving is in flight. A connection idle between requests,
// or still sending a request's headers, has none; neither has one whose bytes are still
// unread in the kernel unless they hold a complete request head.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

  // A connection's remote address and port, as Request::remote_addr/remote_port.
  using Peer = std::pair<std::string, int>;
  // Orders by port first: the addresses are mostly alike ("127.0.0.1" behind a proxy), and
  // the guard looks up every connection several times a second.
  struct PeerLess {
    bool operator()(const Peer& a, const Peer& b) const {
      return a.second != b.second ? a.second < b.second : a.first < b.first;
    }
  };
  using PeerSet = std::set<Peer, PeerLess>;
  struct PeerState {
    bool in_flight = false;
    bool watched = false;  // a hang-up watch is on it (Watch)
    // When its last request's response was written (none yet: nullopt).
    std::optional<std::chrono::steady_clock::time_point> last_finished;
  };
  PeerState StateOf(const Peer& peer);
  // Forgets when the requests of peers not in `open` finished before `before` (their
  // connections are gone; later ones may be on connections accepted since `open` was
  // taken), so that what is kept stays bounded by the open connections.
  void KeepOnly(const PeerSet& open, std::chrono::steady_clock::time_point before);

  // Hang-up watches: `on_hang_up` runs once, on the ConnectionGuard's thread, when the guard
  // finds that the client of `peer` closed its connection while a request of it is in
  // flight (a long poll whose client went away). Watch returns its id for Unwatch, which
  // waits for a running `on_hang_up` to return: after it, the callback never runs.
  std::uint64_t Watch(const Peer& peer, std::function<void()> on_hang_up);
  void Unwatch(std::uint64_t id);
  // For the guard (StateOf says whether a peer is watched): `peer`'s client hung up (runs
  // and removes its watches); the socket (descriptor and inode) the guard found for a
  // watched `peer`, for ClientGone.
  void HungUp(const Peer& peer);
  void NoteSocket(const Peer& peer, int fd, unsigned long inode);
  // Looks now whether the client of the watched `peer` closed its connection (false when
  // the guard has not found its socket yet). For a watched request between its attempts:
  // the guard's look may be up to its interval away.
  bool ClientGone(const Peer& peer);

  // Response corking. cpp-httplib writes a response's head and its body with two send()
  // calls: over TCP_NODELAY, two segments, two passes through both kernels' TCP stacks and
  // often two wake-ups of the client. CorkResponse, called once the response is ready (not
  // for a streamed one), corks the request's connection (TCP_CORK) when its socket is known
  // (the guard saw the connection: not in its first look's interval); UncorkResponse, from
  // the server's logger once the response is written, sends it as one segment. Per thread:
  // a connection is served by one thread. The socket found for a connection is checked
  // once (AcceptedPeer) and kept until ConnectionEnded, which the thread calls when it is
  // done with the connection.
  void CorkResponse(const httplib::Request& req);
  static void UncorkResponse();
  static void ConnectionEnded();
  // For the guard: the socket of an accepted connection (NoteConnection), for CorkResponse.
  void NoteConnection(const Peer& peer, int fd);

  // Shuts down (both directions) every connection this process accepted on TCP port
  // `port` that has no request in flight, and returns how many. Call after the server
  // has stopped accepting: workers blocked on those connections return at once.
  int CloseIdle(int port);

 private:
  std::mutex mu_;
  std::multiset<Peer, PeerLess> in_flight_;
  std::map<Peer, std::chrono::steady_clock::time_point, PeerLess> last_finished_;
  std::map<Peer, int, PeerLess> sockets_;  // open connections' descriptors (NoteConnection)
  PeerSet closed_;
  std::mutex watch_mu_;  // after mu_ when both are held; held while a callback runs
  std::uint64_t next_watch_ = 1;
  struct WatchEntry {
    std::uint64_t id;
    std::function<void()> on_hang_up;
    int fd = -1;  // its socket, once the guard found it (NoteSocket)
    unsigned long inode = 0;
  };
  std::multimap<Peer, WatchEntry, PeerLess> watches_;
};

// A hang-up watch for the current request's connection while it lives (does nothing
// without a tracker).
class HangUpWatch {
 public:
  HangUpWatch(ConnectionTracker* tracker, const httplib::Request& req, std::function<void()> on_hang_up);
  ~HangUpWatch();
  HangUpWatch(const HangUpWatch&) = delete;
  HangUpWatch& operator=(const HangUpWatch&) = delete;

 private:
  ConnectionTracker* tracker_;
  std::uint64_t id_ = 0;
};

// Keeps connections from holding the server's threads forever (docs/operations.md,
// "Connections and limits"). Every `interval` it looks at each connection accepted on
// `port` (through /proc/self/fd: cpp-httplib does not hand out its sockets) and shuts
// down, both directions, so that the thread serving it returns at once:
//  - a connection whose request head has been arriving for longer than
//    `header_timeout` (slowloris: a header line now and then keeps each read within the
//    read timeout). A head is arriving when bytes came in after the connection was
//    accepted or its last response was written (more than 10 ms after: the kernel's
//    clock is coarse), and no request has started since; it is taken to have begun at
//    the last byte the first look that sees it finds (at most `interval` late).
//  - when more than `shed_above` connections are open, idle ones (no request in flight,
//    no byte since their last response) beyond that number, longest idle first: HTTP
//    lets a server close an idle keep-alive connection at any time, and clients open a
//    new one (adaptive keep-alive).
// A connection whose complete request head waits unread in the kernel is left alone.
// A connection with a request in flight that is watched (ConnectionTracker::Watch) and
// whose client closed it (FIN or reset) is reported to the tracker as hung up.
// It works at the socket level, so alike for httplib::Server and SSLServer: on TLS the
// handshake counts as part of the first head (a slow handshake is closed too), and the
// unread-head check cannot see into encrypted bytes.
// Each socket is checked on a duplicate of its descriptor before it is shut down, so a
// descriptor closed and reused meanwhile is never touched.
struct ConnectionGuardOptions {
  int port = 0;
  std::chrono::milliseconds interval{250};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // 0: no deadline
  std::size_t shed_above = 0;                                          // 0: never shed
};

// One look: the connections found, and those it closed.
struct GuardSweep {
  std::size_t open = 0;       // connections accepted on the port and not closed yet
  std::size_t in_flight = 0;  // with a request in flight
  std::size_t receiving = 0;  // a request head arriving
  std::size_t idle = 0;       // neither
  std::size_t closed_header_timeout = 0;
  std::size_t closed_idle = 0;
  std::size_t hung_up = 0;  // watched requests whose client was found gone
};

class ConnectionGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // `on_sweep` (may be empty) is called after each look, on the guard's thread.
  ConnectionGuard(ConnectionGuardOptions options, ConnectionTracker& tracker,
                  std::function<void(const GuardSweep&)> on_sweep);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Looks every `interval` on a thread of its own; Stop() ends it. Both safe to call twice.
  void Start();
  void Stop();
  // One look at `now` (what the thread does; public for tests).
  GuardSweep RunOnce(Clock::time_point now);

 private:
  struct Conn {
    ConnectionTracker::Peer peer;
    int fd = -1;
    Clock::time_point first_seen;
    std::optional<Clock::time_point> head_since;  // a request head arriving since
    bool seen = false;                            // found by the current look
  };

  const ConnectionGuardOptions options_;
  ConnectionTracker& tracker_;
  const std::function<void(const GuardSweep&)> on_sweep_;
  std::map<unsigned long, Conn> conns_;  // by socket inode
  std::set<unsigned long> others_;       // socket inodes that are not connections on the port
  std::set<unsigned long> closed_;       // connections shut down, their descriptors still open
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace jobnik::http
