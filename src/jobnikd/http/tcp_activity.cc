#include "http/tcp_activity.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace jobnik::http {

std::optional<TcpActivity> ReadTcpActivity(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) return std::nullopt;
  return TcpActivity{info.tcpi_bytes_received, std::chrono::milliseconds(info.tcpi_last_data_recv)};
}

}  // namespace jobnik::http
