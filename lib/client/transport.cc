#include "client/transport.h"

#include <fmt/format.h>

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <optional>
#include <stop_token>
#include <string_view>

#include "common/ascii.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;

// OpenSSL writes to the socket without MSG_NOSIGNAL: a write to a connection jobnikd has
// closed (a refused handshake) would raise SIGPIPE and end the process. Ignore it, unless
// the program handles it itself.
void IgnoreSigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      (current.sa_flags & SA_SIGINFO) == 0) {
    std::signal(SIGPIPE, SIG_IGN);
  }
}

class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(const ClientOptions& options) : read_timeout_ms_(options.read_timeout_ms) {
    auto base = ParseBaseUrl(options.base_url);
    if (!base.ok()) {
      error_ = base.status();
      return;
    }
    prefix_ = base->prefix;
    https_ = base->scheme_host_port.rfind("https://", 0) == 0;
    if (https_) IgnoreSigpipe();
    if (options.client_cert.empty() != options.client_key.empty()) {
      error_ = domain::ValidationError("a client certificate needs both its certificate and its key file");
      return;
    }
    if (!options.client_cert.empty()) {
      client_cert_ = true;
      http_ = std::make_unique<httplib::Client>(base->scheme_host_port, options.client_cert, options.client_key);
      if (https_ && !http_->is_valid()) {
        error_ = domain::ValidationError(fmt::format("cannot load the client certificate {} with the key {}",
                                                     options.client_cert, options.client_key));
        return;
      }
    } else {
      http_ = std::make_unique<httplib::Client>(base->scheme_host_port);
    }
    http_->set_keep_alive(true);
    http_->set_tcp_nodelay(true);
    http_->set_connection_timeout(std::chrono::milliseconds(options.connect_timeout_ms));
    http_->set_read_timeout(std::chrono::milliseconds(options.read_timeout_ms));
    if (!options.ca_file.empty()) http_->set_ca_cert_path(options.ca_file.c_str());
    for (const auto& [name, value] : options.headers) headers_.emplace(name, value);
    if (!options.bearer_token.empty()) headers_.emplace("Authorization", "Bearer " + options.bearer_token);
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    if (!error_.ok()) return error_;
    // The transport's own headers, plus the request's (copied only when there are any).
    httplib::Headers merged;
    if (!request.headers.empty()) {
      merged = headers_;
      for (const auto& [name, value] : request.headers) merged.emplace(name, value);
    }
    const httplib::Headers& headers = request.headers.empty() ? headers_ : merged;
    if (request.read_timeout) http_->set_read_timeout(*request.read_timeout);
    const std::string path = prefix_ + request.path;
    const std::string& body = request.body;
    const char* type = request.content_type.c_str();
    // cpp-httplib's stop() shuts down the socket of the request in flight, from any thread.
    std::optional<std::stop_callback<std::function<void()>>> cut;
    if (request.cancel.stop_possible()) {
      if (request.cancel.stop_requested()) return domain::Unavailable("cancelled: the request was not sent");
      cut.emplace(request.cancel, std::function<void()>([this] { http_->stop(); }));
    }
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (request.on_body) {
      if (request.method != "GET") return domain::ValidationError("a streamed answer needs a GET request");
      return Stream(path, headers, request);
    }
    // cpp-httplib writes a request's head and its body with two send() calls, which over
    // TCP_NODELAY are two segments, two passes through both kernels' TCP stacks and often
    // two wake-ups of the server. The socket is corked while the head is written and
    // uncorked once the body is (the body comes from a provider that does that), so both
    // leave as one segment. (A request that opens a connection is not corked: its socket
    // does not exist yet.)
    const Cork cork(!body.empty() && request.method != "DELETE" ? http_->socket() : -1);
    const auto provide = [&body, &cork](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      const bool written = sink.write(body.data() + offset, length);
      if (offset + length == body.size()) cork.Release();
      return written;
    };
    if (request.method == "GET") {
      r = http_->Get(path.c_str(), headers);
    } else if (request.method == "POST") {
      r = body.empty() ? http_->Post(path.c_str(), headers, body, type)
                       : http_->Post(path.c_str(), headers, body.size(), provide, type);
    } else if (request.method == "PUT") {
      r = body.empty() ? http_->Put(path.c_str(), headers, body, type)
                       : http_->Put(path.c_str(), headers, body.size(), provide, type);
    } else if (request.method == "PATCH") {
      r = body.empty() ? http_->Patch(path.c_str(), headers, body, type)
                       : http_->Patch(path.c_str(), headers, body.size(), provide, type);
    } else if (request.method == "DELETE") {
      r = body.empty() ? http_->Delete(path.c_str(), headers) : http_->Delete(path.c_str(), headers, body, type);
    } else {
      return Status(ErrorCode::kValidation, "unsupported HTTP method '" + request.method + "'");
    }
    if (request.read_timeout) http_->set_read_timeout(std::chrono::milliseconds(read_timeout_ms_));
    if (!r && request.cancel.stop_requested()) return domain::Unavailable("cancelled: the request was cut by a stop");
    if (!r) return domain::Unavailable("cannot reach jobnikd: " + Explain(r.error()));
    HttpResponse out;
    out.status = r->status;
    out.headers.reserve(r->headers.size());
    for (auto& [name, value] : r->headers) out.headers.emplace_back(name, value);
    out.body = std::move(r->body);
    return out;
  }

 private:
  // A GET whose 2xx body goes to request.on_body as it arrives (other answers' bodies are
  // collected as usual).
  Result<HttpResponse> Stream(const std::string& path, const httplib::Headers& headers, const HttpRequest& request) {
    HttpResponse out;
    bool ended_by_receiver = false;
    auto r = http_->Get(
        path, headers,
        [&out](const httplib::Response& head) {
          out.status = head.status;
          for (const auto& [name, value] : head.headers) out.headers.emplace_back(name, value);
          return true;
        },
        [&](const char* data, std::size_t size) {
          if (out.status / 100 != 2) {
            out.body.append(data, size);
            return true;
          }
          if (request.on_body(std::string_view(data, size))) return true;
          ended_by_receiver = true;
          return false;
        });
    if (request.read_timeout) http_->set_read_timeout(std::chrono::milliseconds(read_timeout_ms_));
    if (ended_by_receiver) return out;
    if (!r) return domain::Unavailable("cannot reach jobnikd: " + Explain(r.error()));
    out.status = r->status;
    return out;
  }

  // Why there was no answer, in words; TLS failures say what failed.
  std::string Explain(httplib::Error error) const {
    // OpenSSL's reasons (this thread's error queue, emptied for the next request): an alert
    // from jobnikd says best why it refused the handshake.
    std::string reason, alert;
    while (const unsigned long e = ERR_get_error()) {
      const char* r = ERR_reason_error_string(e);
      if (!r) continue;
      if (reason.empty()) reason = r;
      if (alert.empty() && std::string_view(r).find("alert") != std::string_view::npos) alert = r;
    }
    if (!alert.empty()) reason = alert;
    if (error == httplib::Error::SSLServerVerification) {
      const long result = http_->get_openssl_verify_result();
      return fmt::format("TLS: jobnikd's certificate is not trusted ({}); give the CA that signed it with --ca-file",
                         result != X509_V_OK ? X509_verify_cert_error_string(result) : "verification failed");
    }
    if (error == httplib::Error::SSLLoadingCerts) return "TLS: cannot load the CA certificates to trust (--ca-file)";
    if (alert.find("certificate required") != std::string::npos) {
      return fmt::format(
          "TLS: jobnikd requires a client certificate ({}): give one with --client-cert and --client-key", alert);
    }
    if (alert.find("unknown ca") != std::string::npos || alert.find("bad certificate") != std::string::npos ||
        alert.find("certificate unknown") != std::string::npos) {
      return fmt::format("TLS: jobnikd refused the client certificate ({}): it must be signed by a CA jobnikd trusts",
                         alert);
    }
    if (error == httplib::Error::SSLConnection || !alert.empty()) {
      return fmt::format("TLS handshake failed{}: is jobnikd serving https at this address?",
                         reason.empty() ? "" : " (" + reason + ")");
    }
    if (!https_ && error == httplib::Error::Read) {
      return "the connection closed without an answer (if jobnikd serves https there, use an https:// URL)";
    }
    std::string text = httplib::to_string(error);
    if (https_ && !reason.empty()) text += " (TLS: " + reason + ")";
    // With TLS 1.3 a server that refuses the client's certificate (or its lack) does so after
    // the client's side of the handshake is done: the request's write or read then fails,
    // often before the alert saying why is read.
    if (https_ && (error == httplib::Error::Write || error == httplib::Error::Read)) {
      text += client_cert_ ? ": jobnikd closed the connection; if it requires client certificates, the one given "
                             "(--client-cert) may not be signed by a CA it trusts"
                           : ": jobnikd closed the connection; if it requires a client certificate, give one with "
                             "--client-cert and --client-key";
    }
    return text;
  }

  // TCP_CORK on the connection's socket (-1: none) while a request is written (Send);
  // released at the latest when it goes out of scope, so a socket is never left corked.
  // When cpp-httplib finds the connection dead it closes that socket and opens another
  // (not corked: two segments that time); the release then turns corking off on a
  // descriptor that may have been reused meanwhile, which does no harm.
  class Cork {
   public:
    explicit Cork(int socket) : socket_(socket) {
      if (socket_ >= 0 && !Set(1)) socket_ = -1;
    }
    Cork(const Cork&) = delete;
    Cork& operator=(const Cork&) = delete;
    ~Cork() { Release(); }
    // Sends what the socket holds.
    void Release() const {
      if (socket_ >= 0 && !released_) {
        Set(0);
        released_ = true;
      }
    }

   private:
    bool Set(int on) const { return ::setsockopt(socket_, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0; }
    int socket_;
    mutable bool released_ = false;
  };

  Status error_;
  bool https_ = false;
  bool client_cert_ = false;  // a client certificate is configured
  std::string prefix_;
  int read_timeout_ms_;
  httplib::Headers headers_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace

std::optional<std::string> FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (ascii::EqualsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

Result<BaseUrl> ParseBaseUrl(std::string_view url) {
  auto bad = [url](std::string_view why) {
    return domain::ValidationError("base URL '" + std::string(url) + "': " + std::string(why));
  };
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return bad("expected scheme://host[:port][/path]");
  const std::string_view scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https") return bad("the scheme must be http or https");
  const auto path_at = url.find('/', sep + 3);
  const std::string_view authority =
      url.substr(sep + 3, path_at == std::string_view::npos ? url.npos : path_at - sep - 3);
  if (authority.empty()) return bad("no host");
  if (authority.find_first_of("?#@ ") != std::string_view::npos) return bad("unexpected character in host");
  std::string prefix(path_at == std::string_view::npos ? std::string_view() : url.substr(path_at));
  if (prefix.find_first_of("?# ") != std::string::npos) return bad("a query or fragment is not allowed");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix == "/v1" || (prefix.size() > 3 && prefix.ends_with("/v1"))) prefix.resize(prefix.size() - 3);
  return BaseUrl{std::string(url.substr(0, path_at == std::string_view::npos ? url.size() : path_at)), prefix};
}

std::unique_ptr<Transport> MakeHttpTransport(const ClientOptions& options) {
  return std::make_unique<HttpTransport>(options);
}

}  // namespace jobnik::client
