// Unit tests of the streaming request parsers (lib/domain/codec.h: ParseNewJob and
// ParseNewTasks read their bodies through nlohmann's SAX interface, one stage and one task
// at a time). Whatever the body, each must give exactly what the same rules give over the
// whole parsed tree (ParseJsonBody + ParseNewJobTree / ParseNewTasksTree): the same value,
// or the same error message. The bodies here are the ones where streaming could differ:
// repeated keys, errors in several places (the first in document order must not win over
// one the tree checks first), syntax errors after a validation error, arrays that look like
// the streamed ones at other depths; then random mutations of valid bodies.
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/error.h"
#include "domain/model.h"
#include "matchers.h"

namespace jobnik::domain {
namespace {

using nlohmann::json;

// What the tree-based rules give for `body`: the value, or the error.
Result<NewJob> JobByTree(const std::string& body) {
  auto tree = ParseJsonBody(body);
  if (!tree.ok()) return tree.status();
  return ParseNewJobTree(*tree);
}
Result<std::vector<NewTask>> TasksByTree(const std::string& body) {
  auto tree = ParseJsonBody(body);
  if (!tree.ok()) return tree.status();
  return ParseNewTasksTree(*tree);
}

template <typename T>
::testing::AssertionResult Same(const Result<T>& streamed, const Result<T>& tree) {
  if (streamed.ok() != tree.ok()) {
    return ::testing::AssertionFailure() << "streamed: " << (streamed.ok() ? "ok" : streamed.status().message())
                                         << "; tree: " << (tree.ok() ? "ok" : tree.status().message());
  }
  if (!streamed.ok()) {
    if (streamed.status().code() != tree.status().code() || streamed.status().message() != tree.status().message()) {
      return ::testing::AssertionFailure()
             << "streamed: " << streamed.status().message() << "; tree: " << tree.status().message();
    }
    return ::testing::AssertionSuccess() << streamed.status().message();
  }
  if (!(*streamed == *tree)) return ::testing::AssertionFailure() << "different values";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameJob(const std::string& body) {
  auto r = Same(ParseNewJob(body), JobByTree(body));
  if (!r) r << "\nbody: " << body;
  return r;
}
::testing::AssertionResult SameTasks(const std::string& body) {
  auto r = Same(ParseNewTasks(body), TasksByTree(body));
  if (!r) r << "\nbody: " << body;
  return r;
}

const char* const kTask = R"({"data":{"i":1},"userMetadata":{"m":[1,{"x":null}]},"maxAttempts":2})";
const char* const kBadTask = R"({"data":{},"maxAttempts":0})";  // request/body/.../maxAttempts
const char* const kStage = R"({"type":"t","data":{}})";

std::string Stage(const std::string& tasks, const std::string& extra = "") {
  return R"({"type":"t","data":{"s":1})" + extra + R"(,"tasks":)" + tasks + "}";
}
std::string Job(const std::string& stages, const std::string& extra = "") {
  return R"({"name":"ab","data":{})" + extra + R"(,"stages":)" + stages + "}";
}

TEST(StreamingParse, ValidJobIsTheTreeOne) {
  const std::string body = Job("[" + Stage(std::string("[") + kTask + "," + kTask + "]") + "," + kStage + "," +
                               Stage("[]", R"(,"startAsWaiting":true)") + "]");
  ASSERT_TRUE(SameJob(body));
  auto job = ParseNewJob(body);
  ASSERT_TRUE(IsOk(job));
  ASSERT_TRUE(job->stages.has_value());
  ASSERT_EQ(job->stages->size(), 3U);
  EXPECT_EQ((*job->stages)[0].tasks.size(), 2U);
  EXPECT_EQ((*job->stages)[0].tasks[1].user_metadata, R"({"m":[1,{"x":null}]})");
  EXPECT_TRUE((*job->stages)[1].tasks.empty());
  EXPECT_TRUE((*job->stages)[2].start_as_waiting);
}

TEST(StreamingParse, ValidTasksAreTheTreeOnes) {
  const std::string body = std::string("[") + kTask + "," + R"({"data":{"b":2,"a":1},"traceparent":)" +
                           R"("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})" + "]";
  ASSERT_TRUE(SameTasks(body));
  auto tasks = ParseNewTasks(body);
  ASSERT_TRUE(IsOk(tasks));
  ASSERT_EQ(tasks->size(), 2U);
  EXPECT_EQ((*tasks)[1].data, R"({"a":1,"b":2})");  // compact, keys ordered: as the tree dumps it
}

TEST(StreamingParse, ARepeatedKeyKeepsItsLastValueAsInTheTree) {
  const std::string two = std::string("[") + kTask + "," + kTask + "]";
  const std::string one = std::string("[") + kTask + "]";
  for (const std::string& body : std::vector<std::string>{
           Job("[" + Stage(two) + "]", R"(,"stages":[])"),                            // stages, then stages
           Job("[]", R"(,"stages":[)" + Stage(two) + "]"),                            // (the one kept is last)
           Job("[" + Stage(one) + "]", R"(,"stages":"x")"),                           // a string, then an array
           R"({"name":"ab","data":{},"stages":[)" + Stage(two) + R"(],"stages":7})",  // an array, then a number
           Job("[" + Stage(one, R"(,"tasks":)" + two) + "]"),                         // tasks, then tasks
           Job("[" + Stage(one, R"(,"tasks":{"a":1})") + "]"),                        // an object, then an array
           Job(R"([{"type":"t","data":{},"tasks":[)" + std::string(kBadTask) + R"(],"tasks":[]}])"),
           Job(R"([{"type":"t","data":{},"tasks":[],"tasks":[)" + std::string(kBadTask) + "]}]"),
           Job(R"([{"type":"t","data":{},"tasks":[)" + std::string(kTask) + R"(],"tasks":null}])"),
           Job("[" + Stage(one) + "]", R"(,"name":"x")"),  // a repeated job field, too short the last time
       }) {
    EXPECT_TRUE(SameJob(body));
  }
  auto kept = ParseNewJob(Job("[" + Stage(two) + "]", R"(,"stages":[])"));
  ASSERT_TRUE(IsOk(kept));
  ASSERT_EQ(kept->stages->size(), 1U);
  EXPECT_EQ((*kept->stages)[0].tasks.size(), 2U);
  EXPECT_TRUE(IsValidationError(
      ParseNewJob(Job(R"([{"type":"t","data":{},"tasks":[)" + std::string(kTask) + R"(],"tasks":null}])")),
      {"request/body/stages/0/tasks", "must be array"}));
}

TEST(StreamingParse, TheErrorIsTheOneTheTreeChecksFirst) {
  const std::string bad = std::string("[") + kTask + "," + kBadTask + "]";
  for (const std::string& body : std::vector<std::string>{
           // A job field is checked before any stage, wherever the stages are in the text.
           Job("[" + Stage(bad) + "]", R"(,"priority":"URGENT")"),
           Job("[" + Stage(bad) + "]", R"(,"colour":1)"),
           R"({"stages":[)" + Stage(bad) + R"(],"data":{}})",
           // A stage's own fields before its tasks, even when its tasks come first.
           R"({"name":"ab","data":{},"stages":[{"tasks":)" + bad + R"(,"data":{}}]})",
           R"({"name":"ab","data":{},"stages":[{"tasks":)" + bad + R"(,"type":7,"data":{}}]})",
           // The first bad stage, whether its fault is a field or a task.
           Job("[" + Stage(bad) + R"(,{"type":"t"}])"),
           Job(R"([{"type":"t"},)" + Stage(bad) + "]"),
           Job("[" + Stage(bad) + "," + Stage(bad) + "]"),
           Job("[" + std::string(kStage) + "," + Stage("[" + std::string(kTask) + ",7]") + "]"),
           Job("[" + std::string(kStage) + ",[" + Stage(bad) + "]]"),  // a stage that is an array
           Job(R"([1,"x",null])"),
           Job("[" + Stage(R"({"not":"an array"})") + "]"),
           // The tasks array of a later stage, after an earlier stage's bad task.
           Job("[" + Stage(bad) + "," + Stage("[1]") + "]"),
       }) {
    EXPECT_TRUE(SameJob(body));
  }
  EXPECT_TRUE(IsValidationError(ParseNewJob(R"({"name":"ab","data":{},"stages":[{"tasks":)" + bad + R"(,"data":{}}]})"),
                                {"request/body/stages/0", "'type'"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(Job("[" + std::string(kStage) + "," + Stage(bad) + "]")),
                                {"request/body/stages/1/tasks/1/maxAttempts"}));
  for (const std::string& body : std::vector<std::string>{
           std::string("[") + kTask + "," + kBadTask + "," + R"({"data":1})" + "]",
           std::string("[") + kTask + ",[" + kBadTask + "],7]",
           std::string("[null,") + kBadTask + "]",
       }) {
    EXPECT_TRUE(SameTasks(body));
  }
}

TEST(StreamingParse, ASyntaxErrorAfterABadTaskIsStillTheError) {
  const std::string bad = std::string("[") + kBadTask + "]";
  for (const std::string& body : std::vector<std::string>{
           Job("[" + Stage(bad) + "]").substr(0, 60),
           Job("[" + Stage(bad) + "]") + " x",
           Job("[" + Stage(bad) + R"(,{"type":"t","data":{"n":1e400}}])"),
           Job("[" + Stage(bad) + "],]"),
       }) {
    EXPECT_TRUE(SameJob(body));
    EXPECT_TRUE(IsValidationError(ParseNewJob(body), {"request/body"}));
    EXPECT_FALSE(IsValidationError(ParseNewJob(body), {"maxAttempts"})) << body;
  }
  for (const std::string& body : std::vector<std::string>{
           bad + ",", std::string("[") + kBadTask + R"(,{"data":{"n":-1e999}}])", std::string("[") + kBadTask + ",{"}) {
    EXPECT_TRUE(SameTasks(body));
    EXPECT_FALSE(IsValidationError(ParseNewTasks(body), {"maxAttempts"})) << body;
  }
}

TEST(StreamingParse, OnlyTheSubmissionsArraysAreStreamed) {
  // Arrays named stages/tasks elsewhere are plain values (in data, at the root, in a task).
  for (const std::string& body : std::vector<std::string>{
           R"({"name":"ab","data":{"stages":[1],"tasks":[2]},"stages":[{"type":"t","data":{"tasks":[3]}}]})",
           R"({"name":"ab","data":{},"tasks":[1]})",
           Job(R"([{"type":"t","data":{},"tasks":[{"data":{"tasks":[1]},"tasks":[]}]}])"),
           Job(R"([{"type":"t","data":{},"stages":[{"type":"u","data":{}}]}])"),
           R"([{"name":"ab","data":{},"stages":[]}])",
           R"({"name":"ab","data":{}})",
           Job("[]"),
       }) {
    EXPECT_TRUE(SameJob(body));
  }
  auto job =
      ParseNewJob(R"({"name":"ab","data":{"stages":[1],"tasks":[2]},"stages":[{"type":"t","data":{"tasks":[3]}}]})");
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->data, R"({"stages":[1],"tasks":[2]})");
  EXPECT_EQ((*job->stages)[0].data, R"({"tasks":[3]})");
  for (const std::string& body :
       std::vector<std::string>{std::string(R"({"a":[1,2]})"), std::string(R"([[{"data":{}}]])"),
                                std::string(R"([{"data":{"x":[[],[{}]]}}])"), std::string("[]"), std::string("null"),
                                std::string(R"("[]")")}) {
    EXPECT_TRUE(SameTasks(body));
  }
}

TEST(StreamingParse, BodyChecksComeFirstAsBefore) {
  for (const std::string& body :
       std::vector<std::string>{std::string(""), std::string("   "), std::string("[") + kTask + std::string(1, '\0'),
                                std::string(600, '[') + std::string(600, ']'), std::string("{'a':1}"),
                                std::string(R"(["\ud800"])"), std::string("[1] [2]")}) {
    EXPECT_TRUE(SameJob(body));
    EXPECT_TRUE(SameTasks(body));
  }
  EXPECT_TRUE(IsValidationError(ParseNewTasks(""), {"request/body", "required"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(std::string(600, '[') + std::string(600, ']')), {"512"}));
}

// Random edits of valid bodies (bytes deleted, duplicated, replaced by JSON punctuation
// or by other bodies' bytes): the streamed parse always agrees with the tree.
TEST(StreamingParse, AgreesWithTheTreeOnMutatedBodies) {
  const std::vector<std::string> seeds = {
      Job("[" + Stage(std::string("[") + kTask + "," + kBadTask + "]") + "," + kStage + "]"),
      Job("[" + Stage(std::string("[") + kTask + "]", R"(,"retry":{"delaySeconds":1,"backoff":2})") + "]",
          R"(,"priority":"HIGH","userMetadata":{"u":"v"})"),
      std::string("[") + kTask + "," + kTask + R"(,{"data":{},"retry":{"delaySeconds":3}}])",
  };
  const std::string alphabet = R"({}[],:"0-1etaskgdnul \)";
  std::mt19937 rng(20261130);
  int agreed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0:
          body.erase(at, 1 + rng() % 8);
          break;
        case 1:
          body.insert(at, body.substr(rng() % body.size(), 1 + rng() % 24));
          break;
        case 2:
          body[at] = alphabet[rng() % alphabet.size()];
          break;
        default:
          body.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    ASSERT_TRUE(SameJob(body)) << "round " << round;
    ASSERT_TRUE(SameTasks(body)) << "round " << round;
    ++agreed;
  }
  EXPECT_EQ(agreed, 20000);
}

}  // namespace
}  // namespace jobnik::domain
