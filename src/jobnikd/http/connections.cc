#include "http/connections.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
  std::lock_guard lock(mu_);
  if (auto it = in_flight_.find(Peer(req.remote_addr, req.remote_port)); it != in_flight_.end()) {
    in_flight_.erase(it);
  }
}

std::size_t ConnectionTracker::InFlight() {
  std::lock_guard lock(mu_);
  return in_flight_.size();
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

}  // namespace jobnik::http
