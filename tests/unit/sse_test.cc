// The server-sent event parser (client/sse.h) and Client::StreamJob over a scripted server.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/fake_transport.h"
#include "client/sse.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using Message = Client::JobStreamMessage;

std::vector<SseEvent> ParseInPieces(const std::string& text, std::size_t piece) {
  std::vector<SseEvent> out;
  SseParser parser([&](const SseEvent& e) {
    out.push_back(e);
    return true;
  });
  for (std::size_t at = 0; at < text.size(); at += piece) EXPECT_TRUE(parser.Feed(text.substr(at, piece)));
  return out;
}

TEST(SseParserTest, ReadsEventsCutAnywhereWithAnyLineEnd) {
  const std::string lf =
      "retry: 3000\n\n"
      ": keep-alive\n\n"
      "id: 7\nevent: jobEvent\ndata: {\"a\":1}\n\n"
      "event: job\ndata: line one\ndata: line two\n\n"
      "data:no space\n\n";
  std::string crlf, cr;
  for (char ch : lf) {
    crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
    cr += ch == '\n' ? '\r' : ch;
  }
  for (const auto& text : {lf, crlf, cr}) {
    for (std::size_t piece : {1U, 2U, 3U, 5U, 64U, 1000U}) {
      const auto events = ParseInPieces(text, piece);
      ASSERT_EQ(events.size(), 3U) << "piece " << piece;
      EXPECT_EQ(events[0].type, "jobEvent");
      EXPECT_EQ(events[0].data, R"({"a":1})");
      EXPECT_EQ(events[0].last_id, "7");
      EXPECT_EQ(events[1].type, "job");
      EXPECT_EQ(events[1].data, "line one\nline two");
      EXPECT_EQ(events[1].last_id, "7");  // the last id stays until the stream sets another
      EXPECT_EQ(events[2].type, "message");
      EXPECT_EQ(events[2].data, "no space");
    }
  }
}

TEST(SseParserTest, AnEventWithoutDataOrWithoutItsBlankLineIsNotDispatched) {
  EXPECT_TRUE(ParseInPieces("event: job\n\nid: 3\n\n", 4).empty());
  EXPECT_TRUE(ParseInPieces("event: job\ndata: {}\n", 4).empty());  // cut before the blank line
}

TEST(SseParserTest, FalseFromACallbackStopsTheParser) {
  int events = 0, comments = 0;
  SseParser parser(
      [&](const SseEvent&) {
        ++events;
        return false;
      },
      [&](std::string_view text) {
        EXPECT_EQ(text, " keep-alive");
        return ++comments < 2;
      });
  EXPECT_TRUE(parser.Feed(": keep-alive\n"));
  EXPECT_FALSE(parser.Feed(": keep-alive\ndata: x\n\n"));
  EXPECT_FALSE(parser.Feed("data: y\n\n"));
  EXPECT_EQ(comments, 2);
  EXPECT_EQ(events, 0);
}

constexpr const char* kJob =
    R"({"id":"11111111-1111-4111-8111-111111111111","name":"j","data":{},"status":"IN_PROGRESS",)"
    R"("percentage":50,"priority":"MEDIUM","creationTime":"2026-12-01T10:00:00.000Z",)"
    R"("updateTime":"2026-12-01T10:00:01.000Z","userMetadata":{},"creator":"UNKNOWN",)"
    R"("traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","stages":[]})";
constexpr const char* kEvent =
    R"({"id":42,"time":"2026-12-01T10:00:01.000Z","jobId":"11111111-1111-4111-8111-111111111111",)"
    R"("entity":"job","entityId":"11111111-1111-4111-8111-111111111111","kind":"status",)"
    R"("oldValue":"IN_PROGRESS","newValue":"PAUSED","actor":null})";

struct Streamed {
  domain::Status status;
  std::vector<Message> messages;
};

Streamed Stream(const std::shared_ptr<FakeTransport>& fake, Client::JobStreamOptions options = {},
                std::size_t stop_after = 100) {
  Client client(fake);
  Streamed out;
  out.status = client.StreamJob("11111111-1111-4111-8111-111111111111", options, [&](const Message& m) {
    out.messages.push_back(m);
    return out.messages.size() < stop_after;
  });
  return out;
}

TEST(StreamJobTest, DecodesJobsEventsAndKeepAlivesThenSaysTheServerEndedIt) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, std::string("retry: 3000\n\nevent: job\ndata: ") + kJob +
                       "\n\n: keep-alive\n\nid: 42\nevent: jobEvent\ndata: " + kEvent +
                       "\n\nevent: future\ndata: {}\n\n");
  const auto r = Stream(fake, {5});
  EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.message();
  ASSERT_EQ(r.messages.size(), 3U);
  EXPECT_EQ(r.messages[0].kind, Message::Kind::kJob);
  EXPECT_EQ(r.messages[0].job.percentage, 50);
  EXPECT_EQ(r.messages[1].kind, Message::Kind::kKeepAlive);
  EXPECT_EQ(r.messages[2].kind, Message::Kind::kEvent);
  EXPECT_EQ(r.messages[2].event.id, 42);
  EXPECT_EQ(r.messages[2].event.new_value, "PAUSED");
  const auto sent = fake->requests().front();
  EXPECT_EQ(sent.method, "GET");
  EXPECT_EQ(sent.path, "/v1/stream?job_id=11111111-1111-4111-8111-111111111111&after=5");
  EXPECT_EQ(FindHeader(sent.headers, "accept"), "text/event-stream");
}

TEST(StreamJobTest, StoppingFromTheCallbackIsOk) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, std::string("event: job\ndata: ") + kJob + "\n\nevent: job\ndata: " + kJob + "\n\n");
  const auto r = Stream(fake, {}, 1);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.messages.size(), 1U);
}

TEST(StreamJobTest, TheServersErrorsEndTheStream) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, R"(event: error
data: {"code":"JOB_NOT_FOUND","message":"Job 1 not found"}

)");
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kJobNotFound);
  fake->Reply(404, R"({"code":"NOT_FOUND","message":"No route for GET /v1/stream"})");
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kRouteNotFound);
  fake->Reply(503, R"({"code":"SERVICE_UNAVAILABLE","message":"too many job streams are open"})");
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kUnavailable);
  fake->Reply(200, "event: job\ndata: {not json\n\n");
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kBadResponse);
  fake->Reply(200, "event: job\ndata: {\"id\":3}\n\n");
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kBadResponse);
  fake->Reply(domain::Unavailable("cannot reach jobnikd: connection refused"));
  EXPECT_EQ(Stream(fake).status.code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace jobnik::client
