// Reading a server-sent event stream (text/event-stream, as the HTML standard defines it)
// piece by piece, as it arrives: lines may be cut anywhere between two pieces.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace jobnik::client {

// One event: its type ("message" when the stream named none), its data (the data lines
// joined with "\n") and the last event id the stream set (empty when none yet).
struct SseEvent {
  std::string type;
  std::string data;
  std::string last_id;
};

class SseParser {
 public:
  // Called for each complete event; returning false stops the parser (Feed returns false
  // and later calls do nothing).
  using OnEvent = std::function<bool(const SseEvent&)>;
  // on_comment (may be null) is called for each comment line (a keep-alive), with the
  // same meaning of false.
  explicit SseParser(OnEvent on_event, std::function<bool(std::string_view)> on_comment = nullptr)
      : on_event_(std::move(on_event)), on_comment_(std::move(on_comment)) {}

  // Reads the next piece of the stream; false once a callback returned false. `retry:` and
  // unknown fields are skipped; an event without data is not dispatched.
  bool Feed(std::string_view piece);

 private:
  bool Line(std::string_view line);

  OnEvent on_event_;
  std::function<bool(std::string_view)> on_comment_;
  std::string partial_;  // a line not ended yet
  bool after_cr_ = false;
  bool stopped_ = false;
  std::string type_, last_id_;
  std::optional<std::string> data_;
};

}  // namespace jobnik::client
