// Cross-site and DNS-rebinding defenses: which Host headers jobnikd answers to, and which
// browser origins may change state.
//
//  - Host allowlist. A page on another site can make the browser send requests to a
//    loopback jobnikd through DNS rebinding (evil.example resolves to 127.0.0.1): they carry
//    `Host: evil.example`. When jobnikd listens on a loopback address it answers only to
//    the loopback names (localhost, *.localhost, 127.0.0.1 and the rest of 127/8, ::1) and
//    the listen host, unless http.allowed_hosts says otherwise. On another address it
//    answers to any Host unless the list is set ("*" in the list: any). /liveness and
//    /readiness answer whatever the Host (probes name the address; they tell nothing).
//  - Origin check. A request that changes state (any method but GET, HEAD, OPTIONS) and
//    comes from a browser page of another origin is refused: its `Origin` must be the
//    request's own (scheme-less comparison of host:port with the Host header) or one of
//    http.allowed_origins; `Origin: null` is refused; without an Origin, a
//    `Sec-Fetch-Site` of cross-site or same-site is refused. Requests without these
//    headers (curl, the SDKs, scripts) are never refused by this check.
//
// Refusals are 403 FORBIDDEN naming the header and the setting that decides.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobnik::http {

// Whether `host` (a listen address's host: a name, an IPv4 address or a bracketed IPv6
// one) is a loopback one (localhost, *.localhost, 127/8, ::1).
bool IsLoopbackListen(std::string_view host);

class SiteGuard {
 public:
  // `listen_host`: the host part of the listen address. `allowed_hosts`,
  // `allowed_origins`: comma-separated lists ("" : the defaults above).
  SiteGuard(std::string_view listen_host, std::string_view allowed_hosts, std::string_view allowed_origins);

  // Why the request must be refused, or nullopt. Header values as received ("" when absent).
  std::optional<std::string> Check(std::string_view method, std::string_view path, std::string_view host,
                                   std::string_view origin, std::string_view sec_fetch_site) const;

  bool any_host() const { return any_host_; }

 private:
  bool HostAllowed(std::string_view hostname) const;

  bool any_host_ = false;
  bool loopback_names_ = false;       // localhost, *.localhost, 127/8, ::1
  std::vector<std::string> hosts_;    // lower case, without port or brackets
  std::vector<std::string> origins_;  // lower case, without a trailing slash
};

// The host name of a Host header value or of an origin's authority: lower case, without
// the port, the IPv6 brackets or a trailing dot. "" when malformed.
std::string HostName(std::string_view authority);

// Comma-separated list -> trimmed, non-empty items.
std::vector<std::string> SplitList(std::string_view list);

}  // namespace jobnik::http
