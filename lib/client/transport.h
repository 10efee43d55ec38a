// The client's seam to the network: one HTTP exchange at a time.
//
// Client (client.h) speaks the v1 API over a Transport. The real one, made by
// MakeHttpTransport, is one keep-alive cpp-httplib connection; FakeTransport
// (fake_transport.h) is a scripted server for unit tests of what is built on the client
// (retries, backoff, the worker loop) without a network.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/error.h"

namespace jobnik::client {

// HTTP header fields in order; names compare case-insensitively (FindHeader).
using Headers = std::vector<std::pair<std::string, std::string>>;

// The value of the first field named `name` (any case), or std::nullopt.
std::optional<std::string> FindHeader(const Headers& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  // The server path with its query, e.g. "/v1/jobs?priority=HIGH". The transport puts the
  // base URL's path prefix in front of it.
  std::string path;
  Headers headers;  // in addition to the transport's own (ClientOptions::headers)
  std::string body;
  std::string content_type = "application/json";  // with a body
  // Overrides ClientOptions::read_timeout_ms for this request (e.g. a long poll).
  std::optional<std::chrono::milliseconds> read_timeout;
  // GET only. When set, a 2xx answer's body is handed to it piece by piece as it arrives
  // (a stream) instead of collected in HttpResponse::body; returning false ends the
  // exchange, and Send returns the answer's status and headers. The read timeout is then
  // the longest silence allowed between pieces.
  std::function<bool(std::string_view piece)> on_body = nullptr;
  // A stop requested while the exchange is in flight cuts it (the connection is closed, so
  // the server sees its client gone): Send then returns kUnavailable "cancelled" unless
  // the answer had arrived. Meant for long polls; a stop requested before is not sent.
  std::stop_token cancel = {};
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// One HTTP exchange. Send returns the server's answer, whatever its status, or an
// error Status kUnavailable when there was no answer (cannot connect, connection lost,
// timed out, a failed TLS handshake, whose message says why: the server's certificate not
// trusted, or the handshake refused): the server may or may not have acted on the request. A transport is not
// thread-safe unless it says so: use one per thread.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual domain::Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct ClientOptions {
  // scheme://host[:port][/prefix]. A prefix mounts the API under a path ("/jobnik"); a
  // last segment "v1" names the API root itself and is dropped, so that
  // "http://h:8080/v1" (as `make run` prints it) and "http://h:8080" are the same server.
  std::string base_url = "http://127.0.0.1:8080";
  int connect_timeout_ms = 3000;
  int read_timeout_ms = 30000;
  Headers headers = {};           // sent with every request
  std::string bearer_token = {};  // non-empty: "Authorization: Bearer TOKEN" on every request
  std::string ca_file = {};       // https: the CA certificates to trust (empty: the system's)
  // https with a client certificate (mutual TLS): PEM files of the certificate and its key.
  // Both or neither; a pair that cannot be loaded makes every Send fail, naming the files.
  std::string client_cert = {};
  std::string client_key = {};
};

// A base URL split into the part cpp-httplib connects to and the path prefix.
struct BaseUrl {
  std::string scheme_host_port;  // "http://h:8080"
  std::string prefix;            // "" or "/jobnik" (no trailing slash)
};
// VALIDATION_ERROR naming the URL when it is not scheme://host[:port][/path] with scheme
// http or https.
domain::Result<BaseUrl> ParseBaseUrl(std::string_view url);

// The real transport: one keep-alive connection (reconnected when it drops), TCP_NODELAY,
// the options' timeouts and headers. A bad base URL makes every Send fail with it.
std::unique_ptr<Transport> MakeHttpTransport(const ClientOptions& options);

}  // namespace jobnik::client
