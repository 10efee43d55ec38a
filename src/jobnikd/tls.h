// jobnikd's TLS: the certificate, key and optional client CA it serves https with, loaded
// from files at start and again on SIGHUP without dropping a connection.
//
// Each load builds a complete OpenSSL SSL_CTX (TLS 1.2 at least; with a client CA, a client
// certificate signed by it is required). The current one is held in a shared_ptr swapped
// under a mutex; the HTTP server (MakeServer) switches every new connection to it in the
// ClientHello callback, so a reload applies to the next handshake while established
// connections (keep-alive, a long poll in flight) keep the context they started with (the
// SSL object holds a reference to it). Session resumption is off: every connection makes a
// full handshake against the current files.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "domain/error.h"

struct ssl_st;
struct ssl_ctx_st;
using SSL_CTX = ssl_ctx_st;

namespace httplib {
class Server;
}

namespace jobnik {

// The configured files (tls.cert, tls.key, tls.client_ca); client_ca empty: no mTLS.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;
};

// What the loaded certificate is, for logs and metrics.
struct CertificateInfo {
  std::string subject;  // one line, e.g. "CN=jobnik.example"
  std::string serial;   // hex
  std::chrono::system_clock::time_point not_after;
};

class TlsContext {
 public:
  // Loads and checks the files. Errors (VALIDATION_ERROR) name the key and the file:
  // "tls.cert /etc/jobnik/cert.pem: cannot read: No such file or directory", "... is not a
  // PEM certificate", "tls.key ...: does not match the certificate tls.cert ...".
  static domain::Result<std::unique_ptr<TlsContext>> Load(const TlsFiles& files);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Loads the same files again. On success the next handshakes use them; on error (as for
  // Load) the current ones stay. Thread-safe.
  domain::Status Reload();

  // The certificate served now. Thread-safe.
  CertificateInfo Certificate() const;
  bool mutual() const { return !files_.client_ca.empty(); }
  const TlsFiles& files() const { return files_; }

  // An https server (httplib::SSLServer) whose handshakes use this context's current files;
  // this TlsContext must outlive it.
  std::unique_ptr<httplib::Server> MakeServer();

 private:
  struct Loaded {
    std::shared_ptr<SSL_CTX> ctx;
    CertificateInfo certificate;
  };
  explicit TlsContext(TlsFiles files, Loaded loaded) : files_(std::move(files)), current_(std::move(loaded)) {}
  static domain::Result<Loaded> Build(const TlsFiles& files);
  static int OnClientHello(ssl_st* ssl, int* alert, void* self);

  const TlsFiles files_;
  mutable std::mutex mu_;
  Loaded current_;  // guarded by mu_
};

}  // namespace jobnik
