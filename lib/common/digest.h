// SHA-256 digests and random identifiers (OpenSSL's libcrypto, which cpp-httplib already
// links for TLS).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace jobnik::digest {

// SHA-256 over several parts, fed in order; Hex() ends it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& Update(std::string_view data);
  // The digest as 64 lower-case hex digits. Call once.
  std::string Hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of `data` as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

// `bytes` random bytes (from the operating system's generator) as 2 x `bytes` hex digits.
std::string RandomHex(std::size_t bytes);

}  // namespace jobnik::digest
