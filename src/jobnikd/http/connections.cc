#include "http/connections.h"

#include "http/tcp_activity.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace jobnik::http {
namespace {

int PortOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return -1;
}

// The connected TCP peer of `fd` when it is a socket accepted on `port`, spelled as
// cpp-httplib spells Request::remote_addr (getnameinfo, numeric host).
std::optional<std::pair<std::string, int>> AcceptedPeer(int fd, int port) {
  int type = 0;
  int accepting = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return std::nullopt;
  len = sizeof accepting;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting) return std::nullopt;
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 || PortOf(local) != port) {
    return std::nullopt;
  }
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return std::nullopt;
  std::array<char, NI_MAXHOST> host{};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), peer_len, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) !=
      0) {
    return std::nullopt;
  }
  return std::pair<std::string, int>(host.data(), PortOf(peer));
}

// Bytes the kernel holds for `fd` that nobody has read yet include a whole request head.
bool HasUnreadRequestHead(int fd) {
  std::array<char, 16384> buf{};
  const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n <= 0) return false;
  return std::string_view(buf.data(), static_cast<std::size_t>(n)).find("\r\n\r\n") != std::string_view::npos;
}

std::vector<int> OpenDescriptors() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0' && fd != own) fds.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  return fds;
}

}  // namespace

bool ConnectionTracker::RequestStarted(const httplib::Request& req) {
  Peer peer(req.remote_addr, req.remote_port);
  std::lock_guard lock(mu_);
  if (closed_.count(peer) > 0) return false;
  in_flight_.insert(std::move(peer));
  return true;
}

void ConnectionTracker::RequestFinished(const httplib::Request& req) {
  Peer peer(req.remote_addr, req.remote_port);
  std::lock_guard lock(mu_);
  if (auto it = in_flight_.find(peer); it != in_flight_.end()) {
    in_flight_.erase(it);
    last_finished_[std::move(peer)] = std::chrono::steady_clock::now();
  }
}

ConnectionTracker::PeerState ConnectionTracker::StateOf(const Peer& peer) {
  std::lock_guard lock(mu_);
  PeerState state;
  state.in_flight = in_flight_.find(peer) != in_flight_.end();
  if (auto it = last_finished_.find(peer); it != last_finished_.end()) state.last_finished = it->second;
  if (state.in_flight) {
    std::lock_guard watch_lock(watch_mu_);
    state.watched = watches_.find(peer) != watches_.end();
  }
  return state;
}

void ConnectionTracker::KeepOnly(const PeerSet& open, std::chrono::steady_clock::time_point before) {
  std::lock_guard lock(mu_);
  std::erase_if(last_finished_,
                [&](const auto& entry) { return entry.second < before && open.count(entry.first) == 0; });
  std::erase_if(sockets_, [&](const auto& entry) { return open.count(entry.first) == 0; });
}

void ConnectionTracker::NoteConnection(const Peer& peer, int fd) {
  std::lock_guard lock(mu_);
  sockets_[peer] = fd;
}

namespace {

// The connection this thread serves, as CorkResponse found it, and whether it is corked.
struct ServedConnection {
  ConnectionTracker::Peer peer;
  int fd = -1;  // -1: not known (yet)
  bool corked = false;
};
thread_local ServedConnection served;

}  // namespace

void ConnectionTracker::CorkResponse(const httplib::Request& req) {
  Peer peer(req.remote_addr, req.remote_port);
  if (served.fd < 0 || served.peer != peer) {
    served = {peer, -1, false};
    int fd = -1;
    {
      std::lock_guard lock(mu_);
      if (auto it = sockets_.find(peer); it != sockets_.end()) fd = it->second;
    }
    // The guard's look may be old: the descriptor must still be this connection's.
    if (fd < 0 || AcceptedPeer(fd, req.local_port) != peer) return;
    served.fd = fd;
  }
  const int on = 1;
  served.corked = ::setsockopt(served.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
}

void ConnectionTracker::UncorkResponse() {
  if (!served.corked) return;
  const int off = 0;
  ::setsockopt(served.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
  served.corked = false;
}

void ConnectionTracker::ConnectionEnded() {
  served = {};
}

std::size_t ConnectionTracker::InFlight() {
  std::lock_guard lock(mu_);
  return in_flight_.size();
}

std::uint64_t ConnectionTracker::Watch(const Peer& peer, std::function<void()> on_hang_up) {
  std::lock_guard lock(watch_mu_);
  const std::uint64_t id = next_watch_++;
  watches_.emplace(peer, WatchEntry{id, std::move(on_hang_up)});
  return id;
}

void ConnectionTracker::Unwatch(std::uint64_t id) {
  std::lock_guard lock(watch_mu_);
  std::erase_if(watches_, [id](const auto& entry) { return entry.second.id == id; });
}

void ConnectionTracker::HungUp(const Peer& peer) {
  std::lock_guard lock(watch_mu_);
  auto [begin, end] = watches_.equal_range(peer);
  for (auto it = begin; it != end; ++it) it->second.on_hang_up();
  watches_.erase(begin, end);
}

void ConnectionTracker::NoteSocket(const Peer& peer, int fd, unsigned long inode) {
  std::lock_guard lock(watch_mu_);
  auto [begin, end] = watches_.equal_range(peer);
  for (auto it = begin; it != end; ++it) {
    it->second.fd = fd;
    it->second.inode = inode;
  }
}

HangUpWatch::HangUpWatch(ConnectionTracker* tracker, const httplib::Request& req, std::function<void()> on_hang_up)
    : tracker_(tracker) {
  if (tracker_) id_ = tracker_->Watch({req.remote_addr, req.remote_port}, std::move(on_hang_up));
}

HangUpWatch::~HangUpWatch() {
  if (tracker_) tracker_->Unwatch(id_);
}

int ConnectionTracker::CloseIdle(int port) {
  // Holding the lock, no request can start meanwhile: one that had been about to is
  // refused by RequestStarted when its connection is among those closed here.
  std::lock_guard lock(mu_);
  int closed = 0;
  for (int fd : OpenDescriptors()) {
    auto peer = AcceptedPeer(fd, port);
    if (!peer || in_flight_.count(*peer) > 0 || HasUnreadRequestHead(fd)) continue;
    if (::shutdown(fd, SHUT_RDWR) == 0) {
      closed_.insert(std::move(*peer));
      ++closed;
    }
  }
  return closed;
}

namespace {

constexpr std::chrono::milliseconds kClockMargin{10};

// The inode of the socket open as `fd`, or 0 when `fd` is no socket.
unsigned long SocketInode(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return static_cast<unsigned long>(st.st_ino);
}

// Which of `fds` (open sockets) their client closed: a FIN or a reset arrived (unread bytes
// of a next request do not count). One poll() for all of them.
std::vector<bool> PeersClosed(std::vector<pollfd>& fds) {
  std::vector<bool> closed(fds.size(), false);
  if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0) return closed;
  for (std::size_t i = 0; i < fds.size(); ++i) closed[i] = (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  return closed;
}

// Shuts down the socket open as `fd` if it is still the one with `inode`.
bool ShutdownIfSame(int fd, unsigned long inode) {
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;
  const bool same = SocketInode(copy) == inode;
  const bool done = same && ::shutdown(copy, SHUT_RDWR) == 0;
  close(copy);
  return done;
}

}  // namespace

bool ConnectionTracker::ClientGone(const Peer& peer) {
  int fd = -1;
  unsigned long inode = 0;
  {
    std::lock_guard lock(watch_mu_);
    auto it = watches_.find(peer);
    if (it == watches_.end() || it->second.fd < 0) return false;
    fd = it->second.fd;
    inode = it->second.inode;
  }
  std::vector<pollfd> fds{pollfd{fd, POLLRDHUP, 0}};
  return PeersClosed(fds)[0] && SocketInode(fd) == inode;
}

ConnectionGuard::ConnectionGuard(ConnectionGuardOptions options, ConnectionTracker& tracker,
                                 std::function<void(const GuardSweep&)> on_sweep)
    : options_(options), tracker_(tracker), on_sweep_(std::move(on_sweep)) {}

ConnectionGuard::~ConnectionGuard() {
  Stop();
}

void ConnectionGuard::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    std::unique_lock guard_lock(mu_);
    while (!stopping_) {
      guard_lock.unlock();
      const GuardSweep sweep = RunOnce(Clock::now());
      if (on_sweep_) on_sweep_(sweep);
      guard_lock.lock();
      cv_.wait_for(guard_lock, options_.interval, [this] { return stopping_; });
    }
  });
}

void ConnectionGuard::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

GuardSweep ConnectionGuard::RunOnce(Clock::time_point now) {
  GuardSweep sweep;
  std::set<unsigned long> others;
  std::set<unsigned long> closed;
  for (auto& [inode, conn] : conns_) conn.seen = false;
  for (int fd : OpenDescriptors()) {
    const unsigned long inode = SocketInode(fd);
    if (inode == 0) continue;
    if (others_.count(inode) > 0) {
      others.insert(inode);
      continue;
    }
    if (closed_.count(inode) > 0) {  // shut down, not yet closed by its thread
      closed.insert(inode);
      continue;
    }
    auto it = conns_.find(inode);
    if (it == conns_.end()) {
      auto peer = AcceptedPeer(fd, options_.port);
      if (!peer) {
        others.insert(inode);
        continue;
      }
      it = conns_.emplace(inode, Conn{std::move(*peer), fd, now, std::nullopt, false}).first;
      tracker_.NoteConnection(it->second.peer, fd);
    }
    it->second.fd = fd;
    it->second.seen = true;
  }
  others_ = std::move(others);
  closed_ = std::move(closed);
  std::erase_if(conns_, [](const auto& entry) { return !entry.second.seen; });

  // Watched connections with a request in flight, to look at for a hang-up: (fd, inode).
  std::vector<pollfd> watched_fds;
  std::vector<unsigned long> watched;
  // Idle connections, longest idle first, for shedding: (idle since, inode).
  std::vector<std::pair<Clock::time_point, unsigned long>> idle;
  ConnectionTracker::PeerSet open;
  for (auto it = conns_.begin(); it != conns_.end();) {
    auto& [inode, conn] = *it;
    open.insert(conn.peer);
    const auto state = tracker_.StateOf(conn.peer);
    if (state.in_flight) {
      conn.head_since.reset();
      if (state.watched) {
        tracker_.NoteSocket(conn.peer, conn.fd, inode);
        watched_fds.push_back(pollfd{conn.fd, POLLRDHUP, 0});
        watched.push_back(inode);
      }
      ++sweep.in_flight;
      ++it;
      continue;
    }
    // Waiting for a request head since it was accepted or its last response was written.
    const Clock::time_point waiting_since = state.last_finished.value_or(conn.first_seen);
    const auto activity = ReadTcpActivity(conn.fd);
    // A head is arriving: on a connection never served, any byte; else bytes since its
    // last response, with a margin for the kernel's clock (jiffies: 4 ms at 250 Hz), so
    // a head begun within it counts from its next byte.
    const bool receiving =
        activity && (state.last_finished ? now - activity->since_last_data > waiting_since + kClockMargin
                                         : activity->bytes_received > 0);
    if (!receiving) {
      conn.head_since.reset();
      idle.emplace_back(waiting_since, inode);
      ++sweep.idle;
      ++it;
      continue;
    }
    if (!conn.head_since) conn.head_since = now - activity->since_last_data;
    if (options_.header_timeout.count() > 0 && now - *conn.head_since > options_.header_timeout &&
        !HasUnreadRequestHead(conn.fd) && ShutdownIfSame(conn.fd, inode)) {
      ++sweep.closed_header_timeout;
      closed_.insert(inode);
      it = conns_.erase(it);
      continue;
    }
    ++sweep.receiving;
    ++it;
  }
  const std::vector<bool> closed_by_peer = PeersClosed(watched_fds);
  for (std::size_t i = 0; i < watched.size(); ++i) {
    if (!closed_by_peer[i]) continue;
    auto it = conns_.find(watched[i]);
    // Still the same socket (not closed and its descriptor reused since the look above).
    if (it == conns_.end() || SocketInode(watched_fds[i].fd) != watched[i]) continue;
    tracker_.HungUp(it->second.peer);
    ++sweep.hung_up;
  }
  sweep.open = conns_.size();
  if (options_.shed_above > 0 && sweep.open > options_.shed_above) {
    std::sort(idle.begin(), idle.end());
    std::size_t excess = sweep.open - options_.shed_above;
    for (const auto& [since, inode] : idle) {
      if (excess == 0) break;
      auto it = conns_.find(inode);
      if (HasUnreadRequestHead(it->second.fd) || !ShutdownIfSame(it->second.fd, inode)) continue;
      conns_.erase(it);
      closed_.insert(inode);
      ++sweep.closed_idle;
      --sweep.idle;
      --excess;
    }
    sweep.open = conns_.size();
  }
  // Minus a margin: `open` was taken at the start of this look.
  tracker_.KeepOnly(open, now - std::chrono::seconds(1));
  return sweep;
}

}  // namespace jobnik::http
