#include "client/sse.h"

namespace jobnik::client {

bool SseParser::Feed(std::string_view piece) {
  for (char ch : piece) {
    if (stopped_) return false;
    // A line ends with CRLF, LF or CR: an LF right after a CR ends nothing more.
    if (ch == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = ch == '\r';
    if (ch == '\n' || ch == '\r') {
      if (!Line(partial_)) stopped_ = true;
      partial_.clear();
    } else {
      partial_ += ch;
    }
  }
  return !stopped_;
}

bool SseParser::Line(std::string_view line) {
  if (line.empty()) {  // the end of an event
    std::optional<std::string> data = std::move(data_);
    std::string type = std::move(type_);
    data_.reset();
    type_.clear();
    if (!data) return true;
    return on_event_({type.empty() ? "message" : std::move(type), std::move(*data), last_id_});
  }
  if (line.front() == ':') return !on_comment_ || on_comment_(line.substr(1));  // a comment (keep-alive)
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (data_) {
      *data_ += '\n';
      *data_ += value;
    } else {
      data_ = std::string(value);
    }
  } else if (field == "event") {
    type_ = value;
  } else if (field == "id" && value.find('\0') == std::string_view::npos) {
    last_id_ = value;
  }
  return true;
}

}  // namespace jobnik::client
