#include "tls.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace jobnik {
namespace {

using domain::Status;
using domain::ValidationError;

// The reason of OpenSSL's last error (and the queue emptied), or `fallback`.
std::string OpenSslReason(const char* fallback) {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  return reason ? reason : fallback;
}

// The file can be opened for reading (else the error names key, file and errno).
Status CheckReadable(const char* key, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return ValidationError(fmt::format("{} {}: cannot read: {}", key, path, std::strerror(errno)));
  std::fclose(f);
  return Status::Ok();
}

std::string SubjectOf(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return "";
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(bio);
  return out;
}

std::string SerialOf(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  if (!bn) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::chrono::system_clock::time_point NotAfterOf(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

domain::Result<TlsContext::Loaded> TlsContext::Build(const TlsFiles& files) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return Status(domain::ErrorCode::kUnknown, "cannot create a TLS context: " + OpenSslReason("unknown"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);

  JOBNIK_TRY(CheckReadable("tls.cert", files.cert));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1) {
    return ValidationError(
        fmt::format("tls.cert {}: not a PEM certificate ({})", files.cert, OpenSslReason("no certificate found")));
  }
  JOBNIK_TRY(CheckReadable("tls.key", files.key));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string reason = OpenSslReason("no key found");
    if (reason.find("values mismatch") != std::string::npos) {
      return ValidationError(
          fmt::format("tls.key {}: does not match the certificate of tls.cert {}", files.key, files.cert));
    }
    return ValidationError(fmt::format("tls.key {}: not a PEM private key ({})", files.key, reason));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return ValidationError(
        fmt::format("tls.key {}: does not match the certificate of tls.cert {}", files.key, files.cert));
  }
  if (!files.client_ca.empty()) {
    JOBNIK_TRY(CheckReadable("tls.client_ca", files.client_ca));
    if (SSL_CTX_load_verify_locations(ctx.get(), files.client_ca.c_str(), nullptr) != 1) {
      return ValidationError(fmt::format("tls.client_ca {}: not a PEM CA certificate ({})", files.client_ca,
                                         OpenSslReason("no certificate found")));
    }
    // The CA names sent in the CertificateRequest, so a client picks the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (!names) {
      return ValidationError(fmt::format("tls.client_ca {}: not a PEM CA certificate ({})", files.client_ca,
                                         OpenSslReason("no certificate found")));
    }
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  Loaded loaded{ctx, {SubjectOf(cert), SerialOf(cert), NotAfterOf(cert)}};
  return loaded;
}

domain::Result<std::unique_ptr<TlsContext>> TlsContext::Load(const TlsFiles& files) {
  JOBNIK_ASSIGN_OR_RETURN(auto loaded, Build(files));
  return std::unique_ptr<TlsContext>(new TlsContext(files, std::move(loaded)));
}

Status TlsContext::Reload() {
  JOBNIK_ASSIGN_OR_RETURN(auto loaded, Build(files_));
  const std::lock_guard lock(mu_);
  current_ = std::move(loaded);
  return Status::Ok();
}

CertificateInfo TlsContext::Certificate() const {
  const std::lock_guard lock(mu_);
  return current_.certificate;
}

// Moves a new connection to the current context before anything of it is used: the
// certificate and key come with SSL_set_SSL_CTX; the verify mode and the client CA names
// were copied into the SSL from the server's base context at SSL_new, so they are set on
// the SSL too. The CA store is read from the (new) context when the client's certificate
// is verified.
int TlsContext::OnClientHello(SSL* ssl, int* alert, void* self) {
  std::shared_ptr<SSL_CTX> ctx;
  {
    auto* tls = static_cast<TlsContext*>(self);
    const std::lock_guard lock(tls->mu_);
    ctx = tls->current_.ctx;
  }
  if (SSL_set_SSL_CTX(ssl, ctx.get()) != ctx.get()) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx.get()), nullptr);
  if (STACK_OF(X509_NAME)* names = SSL_CTX_get_client_CA_list(ctx.get())) {
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(names));
  }
  SSL_set_min_proto_version(ssl, TLS1_2_VERSION);
  return SSL_CLIENT_HELLO_SUCCESS;
}

std::unique_ptr<httplib::Server> TlsContext::MakeServer() {
  return std::make_unique<httplib::SSLServer>([this](SSL_CTX& base) {
    SSL_CTX_set_min_proto_version(&base, TLS1_2_VERSION);
    // No resumption: a resumed session would skip the checks of the files now in force.
    SSL_CTX_set_session_cache_mode(&base, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(&base, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(&base, 0);
    SSL_CTX_set_client_hello_cb(&base, &TlsContext::OnClientHello, this);
    return true;
  });
}

}  // namespace jobnik
