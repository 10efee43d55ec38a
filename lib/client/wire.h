// Helpers shared by the files that implement Client (client.cc, operations.cc, worker_ops.cc): not
// part of the public interface.
#pragma once

#include <string>
#include <string_view>

#include "domain/error.h"

namespace jobnik::client::wire {

// An error answer back into a Status: the server's code and message; an error body with
// a code this build does not know names it in the message; anything else names the HTTP
// status (kUnavailable for 503, kBadResponse otherwise).
domain::Status ErrorOf(int http_status, const std::string& body);

// Percent-encodes a path segment or a query value (RFC 3986 unreserved characters pass).
std::string Encode(std::string_view s);

}  // namespace jobnik::client::wire
