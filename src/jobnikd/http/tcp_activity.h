// What the kernel knows of a TCP connection's incoming data (TCP_INFO), for the
// connection guard (http/connections.h). Kept apart: <linux/tcp.h>, which has the fields
// needed, clashes with the <netinet/tcp.h> that httplib.h includes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace jobnik::http {

struct TcpActivity {
  std::uint64_t bytes_received = 0;              // since the connection was established
  std::chrono::milliseconds since_last_data{0};  // since the last segment with data arrived
};

// nullopt when `fd` is not a TCP socket, or the kernel is too old to count bytes (< 4.1).
std::optional<TcpActivity> ReadTcpActivity(int fd);

}  // namespace jobnik::http
