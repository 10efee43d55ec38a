#include "common/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "domain/validation.h"

namespace jobnik::logging {
namespace {

// %* in the JSON pattern: the message as a JSON string literal.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string quoted = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// %* in the text pattern: the message with control characters escaped.
class TextMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const bool plain = std::all_of(payload.begin(), payload.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
    if (plain) {  // the common case: no copy
      dest.append(payload.data(), payload.data() + payload.size());
      return;
    }
    std::string escaped;
    AppendEscapedText(escaped, payload);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextMessageFlag>(); }
};

}  // namespace

void AppendEscapedText(std::string& out, std::string_view message) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto hex_byte = [&out](unsigned char b) {
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  };
  out.reserve(out.size() + message.size());
  for (std::size_t i = 0; i < message.size();) {
    const auto b = static_cast<unsigned char>(message[i]);
    if (b >= 0x20 && b < 0x7F) {
      out += message[i++];
      continue;
    }
    if (b < 0x80) {
      if (b == '\n') {
        out += "\\n";
      } else if (b == '\r') {
        out += "\\r";
      } else if (b == '\t') {
        out += "\\t";
      } else {
        hex_byte(b);
      }
      ++i;
      continue;
    }
    bool valid = false;
    const std::size_t n = domain::Utf8SequenceAt(message, i, &valid);
    const std::string_view seq = message.substr(i, n);
    if (!valid) {
      for (char c : seq) hex_byte(static_cast<unsigned char>(c));
    } else if (seq[0] == '\xC2' && static_cast<unsigned char>(seq[1]) < 0xA0) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(seq[1]));  // C1: U+0080..U+009F
    } else if (seq == "\xE2\x80\xA8" || seq == "\xE2\x80\xA9") {
      out += seq[2] == '\xA8' ? "\\u2028" : "\\u2029";
    } else {
      out += seq;
    }
    i += n;
  }
}

domain::Result<Format> ParseFormat(std::string_view s) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  return domain::ValidationError(fmt::format("must be 'text' or 'json', not '{}'", s));
}

domain::Status CheckLevel(std::string_view level) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (l == level) return domain::Status::Ok();
  }
  return domain::ValidationError(
      fmt::format("must be one of trace, debug, info, warn, error, critical, off; not '{}'", level));
}

void Setup(std::string_view program, Format format, std::string_view level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(program), sink);
  if (format == Format::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<TextMessageFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %n: %*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace jobnik::logging
