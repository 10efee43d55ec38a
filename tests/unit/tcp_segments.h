// How many TCP segments with data a socket has received (TCP_INFO tcpi_data_segs_in), for
// tests of what goes on the wire. In a file of its own: <linux/tcp.h>, which has the field,
// cannot be included next to <netinet/tcp.h> (cpp-httplib's).
#pragma once

namespace jobnik::test {

// 0 when the kernel does not say.
unsigned DataSegmentsIn(int fd);

}  // namespace jobnik::test
