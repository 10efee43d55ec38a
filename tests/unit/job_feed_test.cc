// What a job stream sends (http/streams.h, JobFeed), read by read, without a server.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "http/streams.h"

namespace jobnik::http {
namespace {

using namespace std::chrono_literals;
using Clock = JobFeed::Clock;

domain::JobEvent Event(std::int64_t id) {
  domain::JobEvent e;
  e.id = id;
  e.job_id = "11111111-1111-4111-8111-111111111111";
  e.entity = "job";
  e.entity_id = e.job_id;
  e.kind = "status";
  e.new_value = "PAUSED";
  return e;
}

// The ids of the jobEvent messages in `text`, in order.
std::vector<std::int64_t> Ids(const std::string& text) {
  std::vector<std::int64_t> ids;
  for (std::size_t at = text.find("id: "); at != std::string::npos; at = text.find("id: ", at + 1)) {
    if (at == 0 || text[at - 1] == '\n') ids.push_back(std::stoll(text.substr(at + 4)));
  }
  return ids;
}

TEST(JobFeedTest, SendsTheJobWhenItChangesAndKeepsAliveWhenNothingDoes) {
  JobFeed feed(std::nullopt, 10, 15s);
  const auto t0 = Clock::now();
  EXPECT_EQ(feed.floor(), 10);
  EXPECT_EQ(feed.Next(R"({"a":1})", {}, t0), "event: job\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(feed.Next(R"({"a":1})", {}, t0 + 1s), "");
  EXPECT_EQ(feed.Next(R"({"a":1})", {}, t0 + 15s), ": keep-alive\n\n");
  EXPECT_EQ(feed.Next(R"({"a":1})", {}, t0 + 16s), "");
  EXPECT_EQ(feed.Next("{\"a\":\n2}", {}, t0 + 17s), "event: job\ndata: {\"a\":\ndata: 2}\n\n");  // a line per field
  EXPECT_EQ(feed.last_job(), "{\"a\":\n2}");
}

TEST(JobFeedTest, SendsEachEventOnceEvenWhenReadAgain) {
  JobFeed feed(0, 0, 15s);
  const auto t0 = Clock::now();
  const auto first = feed.Next("{}", {Event(1), Event(2)}, t0);
  EXPECT_EQ(Ids(first), (std::vector<std::int64_t>{1, 2}));
  EXPECT_NE(first.find("id: 1\nevent: jobEvent\ndata: {\"id\":1,"), std::string::npos) << first;
  EXPECT_LT(first.find("event: jobEvent"), first.find("event: job\n"));  // events, then the job
  // Within the settle time the floor stays: the next read covers 1 and 2 again.
  EXPECT_EQ(feed.floor(), 0);
  EXPECT_EQ(feed.limit(), 2 + JobFeed::kPage);
  EXPECT_EQ(Ids(feed.Next("{}", {Event(1), Event(2), Event(3)}, t0 + 1s)), (std::vector<std::int64_t>{3}));
  // Once settled, the floor passes them.
  EXPECT_EQ(feed.Next("{}", {}, t0 + 1s + JobFeed::kSettle), "");
  EXPECT_EQ(feed.floor(), 3);
  EXPECT_EQ(feed.limit(), JobFeed::kPage);
}

TEST(JobFeedTest, AnEventCommittedLateWithASmallerIdIsSentWithinTheSettleTime) {
  JobFeed feed(std::nullopt, 100, 15s);
  const auto t0 = Clock::now();
  EXPECT_EQ(Ids(feed.Next("{}", {Event(102)}, t0)), (std::vector<std::int64_t>{102}));
  // 101 was taken before 102 but committed after it was read.
  EXPECT_EQ(Ids(feed.Next("{}", {Event(101), Event(102)}, t0 + 1s)), (std::vector<std::int64_t>{101}));
  EXPECT_EQ(feed.Next("{}", {Event(101), Event(102)}, t0 + 2s), "");
  EXPECT_EQ(feed.Next("{}", {}, t0 + 10s), "");
  EXPECT_EQ(feed.floor(), 102);
  // Events at or below the starting point are never sent.
  EXPECT_EQ(feed.Next("{}", {Event(99)}, t0 + 11s), "");
}

TEST(JobFeedTest, ABusyStreamReadsAgainAtMostItsRecentCap) {
  JobFeed feed(0, 0, 15s);
  const auto t0 = Clock::now();
  std::vector<domain::JobEvent> burst;
  for (int i = 1; i <= 1500; ++i) burst.push_back(Event(i));
  EXPECT_EQ(Ids(feed.Next("{}", burst, t0)).size(), 1500U);
  EXPECT_EQ(feed.floor(), 500);  // the oldest 500 left the re-read window at once
  EXPECT_EQ(feed.limit(), static_cast<int>(JobFeed::kMaxRecent) + JobFeed::kPage);
}

TEST(JobFeedTest, ErrorIsOneEventWithCodeAndMessage) {
  EXPECT_EQ(JobFeed::Error("JOB_NOT_FOUND", "Job x not found"),
            "event: error\ndata: {\"code\":\"JOB_NOT_FOUND\",\"message\":\"Job x not found\"}\n\n");
  EXPECT_EQ(JobFeed::Preamble(), "retry: 3000\n\n");
}

TEST(StreamsTest, CountsOpenStreamsUpToTheLimitAndStopWakesSleepers) {
  Streams streams({2, 1000ms, 15s});
  EXPECT_TRUE(streams.TryOpen());
  EXPECT_TRUE(streams.TryOpen());
  EXPECT_FALSE(streams.TryOpen());
  streams.Close();
  EXPECT_EQ(streams.open(), 1);
  EXPECT_TRUE(streams.Sleep(1ms));
  std::thread stopper([&] { streams.Stop(); });
  EXPECT_FALSE(streams.Sleep(60s));  // returns once Stop() runs, not after a minute
  stopper.join();
  EXPECT_FALSE(streams.TryOpen());
  Streams none({0, 1000ms, 15s});
  EXPECT_FALSE(none.TryOpen());
}

}  // namespace
}  // namespace jobnik::http
