// Client::StreamJob: GET /v1/stream?job_id=... read as server-sent events (client/sse.h).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/sse.h"
#include "client/wire.h"
#include "domain/codec.h"

namespace jobnik::client {

using domain::ErrorCode;
using domain::Status;
using nlohmann::json;

Status Client::StreamJob(const std::string& job_id, const JobStreamOptions& options,
                         const std::function<bool(const JobStreamMessage&)>& on_message) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/stream?job_id=" + wire::Encode(job_id);
  if (options.after) request.path += "&after=" + std::to_string(*options.after);
  request.headers.emplace_back("Accept", "text/event-stream");
  request.read_timeout = options.silence;

  Status ended;          // why the stream ended, when not by on_message
  bool stopped = false;  // on_message returned false
  JobStreamMessage message;
  auto deliver = [&](JobStreamMessage::Kind kind) {
    message.kind = kind;
    if (on_message(message)) return true;
    stopped = true;
    return false;
  };
  SseParser parser(
      [&](const SseEvent& e) {
        if (e.type != "job" && e.type != "jobEvent" && e.type != "error") return true;  // unknown types: skipped
        auto j = json::parse(e.data, nullptr, false);
        if (j.is_discarded()) {
          ended = domain::BadResponse(fmt::format("the stream sent malformed JSON in a '{}' event", e.type));
          return false;
        }
        if (e.type == "error") {
          ended = wire::ErrorOf(200, e.data);
          if (ended.ok()) ended = domain::BadResponse("the stream ended with an error it did not name");
          return false;
        }
        // Decodes the data into `into`, else ends the stream naming `what` was malformed.
        auto take = [&](auto decoded, auto& into, std::string_view what) {
          if (!decoded.ok()) {
            ended = domain::BadResponse(
                fmt::format("the stream sent a malformed {}: {}", what, decoded.status().message()));
            return false;
          }
          into = std::move(decoded).value();
          return true;
        };
        if (e.type == "job") {
          return take(domain::DecodeJob(j), message.job, "job") && deliver(JobStreamMessage::Kind::kJob);
        }
        return take(domain::DecodeJobEvent(j), message.event, "event") && deliver(JobStreamMessage::Kind::kEvent);
      },
      [&](std::string_view) { return deliver(JobStreamMessage::Kind::kKeepAlive); });
  request.on_body = [&parser](std::string_view piece) { return parser.Feed(piece); };

  auto r = Send(std::move(request));
  if (stopped) return Status::Ok();
  if (!ended.ok()) return ended;
  if (!r.ok()) return r.status();
  if (r->status != 200) return wire::ErrorOf(r->status, r->body);
  return domain::Unavailable("jobnikd ended the stream (it is stopping)");
}

}  // namespace jobnik::client
