#include "http/site_guard.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>

#include "common/ascii.h"

namespace jobnik::http {
namespace {

bool IsLoopbackName(std::string_view h) {
  if (h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1") return true;
  if (h.size() > 10 && h.substr(h.size() - 10) == ".localhost") return true;  // RFC 6761
  return h.substr(0, 4) == "127." &&
         std::all_of(h.begin(), h.end(), [](char c) { return c == '.' || std::isdigit(c); });
}

bool SafeMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

bool IsLoopbackListen(std::string_view host) {
  const std::string h = HostName(host);
  return IsLoopbackName(h);
}

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const auto comma = std::min(list.find(',', pos), list.size());
    std::string_view item = list.substr(pos, comma - pos);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    pos = comma + 1;
  }
  return out;
}

std::string HostName(std::string_view authority) {
  std::string_view h = authority;
  if (!h.empty() && h.front() == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos) return "";
    const std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return "";
    h = h.substr(1, close - 1);
  } else if (h.find(':') == h.rfind(':')) {  // at most one colon: host[:port]
    h = h.substr(0, h.find(':'));
  }  // several colons without brackets: a bare IPv6 address
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  return ascii::ToLower(h);
}

SiteGuard::SiteGuard(std::string_view listen_host, std::string_view allowed_hosts, std::string_view allowed_origins) {
  for (const auto& item : SplitList(allowed_hosts)) {
    if (item == "*") {
      any_host_ = true;
    } else {
      hosts_.push_back(HostName(item));
    }
  }
  if (hosts_.empty() && !any_host_) {
    if (IsLoopbackListen(listen_host)) {
      loopback_names_ = true;
      hosts_.push_back(HostName(listen_host));
    } else {
      any_host_ = true;
    }
  }
  for (auto& item : SplitList(allowed_origins)) {
    std::string o = ascii::ToLower(item);
    while (!o.empty() && o.back() == '/') o.pop_back();
    origins_.push_back(std::move(o));
  }
}

bool SiteGuard::HostAllowed(std::string_view hostname) const {
  if (any_host_) return true;
  if (loopback_names_ && IsLoopbackName(hostname)) return true;
  return std::find(hosts_.begin(), hosts_.end(), hostname) != hosts_.end();
}

std::optional<std::string> SiteGuard::Check(std::string_view method, std::string_view path, std::string_view host,
                                            std::string_view origin, std::string_view sec_fetch_site) const {
  // HTTP/1.0 clients may send no Host; browsers always do. Health checks tell nothing and
  // come from probes that name the address.
  const bool health = path == "/liveness" || path == "/readiness";
  if (!health && !host.empty() && !HostAllowed(HostName(host))) {
    return fmt::format("Host '{}' is not a name this jobnikd answers to (see http.allowed_hosts)", host);
  }
  if (SafeMethod(method)) return std::nullopt;
  if (!origin.empty()) {
    const std::string o = ascii::ToLower(origin);
    if (std::find(origins_.begin(), origins_.end(), o) != origins_.end()) return std::nullopt;
    // Same origin: the origin's authority is the Host the request was sent to.
    const auto scheme = o.find("://");
    if (o != "null" && scheme != std::string::npos && !host.empty() && o.substr(scheme + 3) == ascii::ToLower(host)) {
      return std::nullopt;
    }
    return fmt::format("a {} from the web page origin '{}' is refused (see http.allowed_origins)", method, origin);
  }
  if (sec_fetch_site == "cross-site" || sec_fetch_site == "same-site") {
    return fmt::format("a {} from a {} web page is refused (Sec-Fetch-Site; see http.allowed_origins)", method,
                       sec_fetch_site);
  }
  return std::nullopt;
}

}  // namespace jobnik::http
