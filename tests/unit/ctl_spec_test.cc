// The job spec of `jobnikctl submit` (src/jobnikctl/spec.h, jobnik-spec(5)): YAML and
// JSON, value typing, --set overrides, ${ENV} expansion, tasksFrom, and errors that name
// FILE:LINE:COLUMN and the field path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/client.h"
#include "spec.h"

namespace jobnik::ctl {
namespace {

using nlohmann::json;

SpecOptions Env(std::map<std::string, std::string> vars = {}) {
  SpecOptions o;
  o.getenv = [vars](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
  return o;
}

// The request body the spec becomes.
json Body(const std::string& text, const SpecOptions& o = Env()) {
  auto job = ParseSpec(text, "spec.yaml", o);
  EXPECT_TRUE(job.ok()) << job.status().message();
  if (!job.ok()) return nullptr;
  return json::parse(client::NewJobJson(*job));
}

std::string Error(const std::string& text, const SpecOptions& o = Env()) {
  auto job = ParseSpec(text, "spec.yaml", o);
  EXPECT_FALSE(job.ok());
  if (job.ok()) return "";
  EXPECT_EQ(job.status().code(), domain::ErrorCode::kValidation);
  return job.status().message();
}

constexpr const char* kTiles = R"(name: tiles
priority: HIGH
data:
  bucket: photos
stages:
  - type: resize
    data: {width: 256}
    tasks:
      - data: {file: a.png}
      - data: {file: b.png}
        maxAttempts: 3
  - type: merge
    startAsWaiting: true
)";

TEST(CtlSpec, AYamlSpecBecomesOneJobTree) {
  const auto b = Body(kTiles);
  EXPECT_EQ(b["name"], "tiles");
  EXPECT_EQ(b["priority"], "HIGH");
  EXPECT_EQ(b["data"], json({{"bucket", "photos"}}));
  ASSERT_EQ(b["stages"].size(), 2u);
  EXPECT_EQ(b["stages"][0]["type"], "resize");
  EXPECT_EQ(b["stages"][0]["data"]["width"], 256);
  ASSERT_EQ(b["stages"][0]["tasks"].size(), 2u);
  EXPECT_EQ(b["stages"][0]["tasks"][0]["data"], json({{"file", "a.png"}}));
  EXPECT_EQ(b["stages"][0]["tasks"][0]["maxAttempts"], 1);
  EXPECT_EQ(b["stages"][0]["tasks"][1]["maxAttempts"], 3);
  EXPECT_EQ(b["stages"][1]["startAsWaiting"], true);
  EXPECT_EQ(b["stages"][1]["data"], json::object());
}

// Found by tests/fuzz/fuzz_spec: bytes that are not UTF-8 made the JSON encoder throw.
TEST(CtlSpec, TextThatIsNotUtf8IsAnErrorNamingTheField) {
  EXPECT_EQ(Error("name: j\ndata: {note: \"a\x96"
                  "b\"}\n"),
            "spec.yaml:2:14: data.note: is not text: it must be valid UTF-8 without NUL characters");
  EXPECT_EQ(Error("name: \"j\x96\"\n"),
            "spec.yaml:1:7: name: is not text: it must be valid UTF-8 without NUL characters");
  EXPECT_THAT(Error("name: j\ndata: {\"k\x96\": 1}\n"), ::testing::HasSubstr("data: a key is not text"));
  EXPECT_THAT(Error("name: j\nstages: [{type: \"t\\0\", data: {}}]\n"),
              ::testing::HasSubstr("stages[0].type: is not text"));
}

TEST(CtlSpec, AJsonSpecIsReadTheSame) {
  const auto b = Body(R"({"name": "j", "data": {"n": 1.5, "s": "x", "b": false, "z": null, "a": [1, "2"]},
                          "stages": [{"type": "t", "data": {}, "tasks": [{"data": {"i": 0}}]}]})");
  EXPECT_EQ(b["data"], json::parse(R"({"n": 1.5, "s": "x", "b": false, "z": null, "a": [1, "2"]})"));
  EXPECT_EQ(b["stages"][0]["tasks"][0]["data"]["i"], 0);
}

TEST(CtlSpec, PlainValuesAreTypedAndQuotedOnesStayStrings) {
  const auto b = Body("name: j\ndata: {i: 42, f: -0.5, t: true, n: ~, q: '42', yes: yes, v: 1.2.3, e: 1e3}\n");
  EXPECT_EQ(b["data"]["i"], 42);
  EXPECT_EQ(b["data"]["f"], -0.5);
  EXPECT_EQ(b["data"]["t"], true);
  EXPECT_TRUE(b["data"]["n"].is_null());
  EXPECT_EQ(b["data"]["q"], "42");
  EXPECT_EQ(b["data"]["yes"], "yes");  // YAML 1.2: not a boolean
  EXPECT_EQ(b["data"]["v"], "1.2.3");
  EXPECT_EQ(b["data"]["e"], 1000.0);
}

TEST(CtlSpec, SetOverridesFieldsWithTypedValues) {
  auto o = Env();
  o.sets = {"name=other",
            "data.bucket=archive",
            "stages[0].data.width=512",
            "stages.1.startAsWaiting=false",
            "stages[0].tasks[1].maxAttempts=5",
            "data.tags=[a, b]",
            "priority=LOW",
            "stages[1].data.deep.er=1"};
  const auto b = Body(kTiles, o);
  EXPECT_EQ(b["name"], "other");
  EXPECT_EQ(b["priority"], "LOW");
  EXPECT_EQ(b["data"]["bucket"], "archive");
  EXPECT_EQ(b["data"]["tags"], json({"a", "b"}));
  EXPECT_EQ(b["stages"][0]["data"]["width"], 512);
  EXPECT_FALSE(b["stages"][1].contains("startAsWaiting"));
  EXPECT_EQ(b["stages"][0]["tasks"][1]["maxAttempts"], 5);
  EXPECT_EQ(b["stages"][1]["data"], json({{"deep", {{"er", 1}}}}));  // created on the way
}

TEST(CtlSpec, ASetErrorNamesTheSet) {
  auto o = Env();
  o.sets = {"stages[0].tasks[0].maxAttempts=0"};
  EXPECT_EQ(Error(kTiles, o),
            "--set stages[0].tasks[0].maxAttempts=0: stages[0].tasks[0].maxAttempts: must be an integer from 1 to "
            "1000000, not 0");
  o.sets = {"stages[5].type=x"};
  EXPECT_EQ(Error(kTiles, o), "--set stages[5].type=x: stages has 2 items: no index 5");
  o.sets = {"name"};
  EXPECT_EQ(Error(kTiles, o), "--set name: expected PATH=VALUE");
  o.sets = {"name.first=x"};
  EXPECT_EQ(Error(kTiles, o), "--set name.first=x: name is a value, not a mapping");
}

TEST(CtlSpec, EnvironmentVariablesAreExpandedInValues) {
  auto o = Env({{"BUCKET", "photos"}, {"WIDTH", "256"}, {"EMPTY", ""}});
  const auto b = Body(
      "name: job-${BUCKET}\ndata:\n  b: ${BUCKET}\n  w: ${WIDTH}\n  q: '${WIDTH}'\n  d: ${NOPE:-fallback}\n"
      "  e: '${EMPTY:-was empty}'\n  lit: '$${BUCKET}'\n  dollar: a$b\n",
      o);
  EXPECT_EQ(b["name"], "job-photos");
  EXPECT_EQ(b["data"]["b"], "photos");
  EXPECT_EQ(b["data"]["w"], 256);  // plain: typed after expansion
  EXPECT_EQ(b["data"]["q"], "256");
  EXPECT_EQ(b["data"]["d"], "fallback");
  EXPECT_EQ(b["data"]["e"], "was empty");
  EXPECT_EQ(b["data"]["lit"], "${BUCKET}");
  EXPECT_EQ(b["data"]["dollar"], "a$b");
}

TEST(CtlSpec, AMissingVariableIsAnErrorAtItsPlace) {
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    data: {bucket: '${BUCKET}'}\n"),
            "spec.yaml:4:20: stages[0].data.bucket: environment variable BUCKET is not set "
            "(${BUCKET:-default} gives a default)");
}

TEST(CtlSpec, ErrorsNameFileLineColumnAndFieldPath) {
  EXPECT_EQ(Error("name: j\nstages:\n  - tpye: resize\n"),
            "spec.yaml:3:5: stages[0].tpye: unknown field (expected one of: type, data, userMetadata, startAsWaiting, "
            "notBefore, tasks, tasksFrom, taskDefaults, retry)");
  EXPECT_EQ(Error("name: j\npriority: URGENT\n"),
            "spec.yaml:2:11: priority: must be one of VERY_HIGH, HIGH, MEDIUM, LOW, VERY_LOW, not 'URGENT'");
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasks:\n      - data: {}\n        maxAttempts: 0\n"),
            "spec.yaml:6:22: stages[0].tasks[0].maxAttempts: must be an integer from 1 to 1000000, not 0");
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasks:\n      - maxAttempts: 2\n"),
            "spec.yaml:5:9: stages[0].tasks[0]: a task needs \"data\" (an object)");
  EXPECT_EQ(Error("name: j\ndata: [1]\n"), "spec.yaml:2:7: data: must be a mapping (a JSON object)");
  EXPECT_EQ(Error("data: {}\n"), "spec.yaml:1:1: name: a job needs a name");
  EXPECT_EQ(Error("name: j\nstages:\n  - data: {}\n"), "spec.yaml:3:5: stages[0]: a stage needs a type");
  EXPECT_EQ(Error(""), "spec.yaml: the spec is empty");
  const auto syntax = Error("name: j\nstages: [\n");
  EXPECT_EQ(syntax.rfind("spec.yaml:", 0), 0u) << syntax;
  EXPECT_NE(syntax.find(":3:"), std::string::npos) << syntax;
}

TEST(CtlSpec, NotBeforeOnTheJobAStageAndATaskIsSentAsGiven) {
  const auto b = Body(R"(name: j
notBefore: 2026-12-01T18:00:00Z
stages:
  - type: t
    notBefore: "2026-12-01T20:00:00+02:00"
    tasks:
      - data: {}
        notBefore: 2026-12-02T06:30:00.250Z
      - data: {}
)");
  EXPECT_EQ(b["notBefore"], "2026-12-01T18:00:00.000Z");
  EXPECT_EQ(b["stages"][0]["notBefore"], "2026-12-01T18:00:00.000Z");  // the same instant, in UTC
  EXPECT_EQ(b["stages"][0]["tasks"][0]["notBefore"], "2026-12-02T06:30:00.250Z");
  EXPECT_FALSE(b["stages"][0]["tasks"][1].contains("notBefore"));
}

TEST(CtlSpec, ANotBeforeThatIsNotATimeNamesItsField) {
  EXPECT_EQ(Error("name: j\nnotBefore: tomorrow\n"),
            "spec.yaml:2:12: notBefore: must be an RFC 3339 time with its offset, e.g. 2026-12-01T18:00:00Z, not "
            "'tomorrow'");
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    notBefore: 2026-12-01T18:00:00\n"),
            "spec.yaml:4:16: stages[0].notBefore: must be an RFC 3339 time with its offset, e.g. "
            "2026-12-01T18:00:00Z, not '2026-12-01T18:00:00'");
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasks:\n      - data: {}\n        notBefore: 5\n"),
            "spec.yaml:6:20: stages[0].tasks[0].notBefore: must be an RFC 3339 time with its offset, e.g. "
            "2026-12-01T18:00:00Z, not 5");
}

class CtlSpecFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ctl_spec_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "shards");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  SpecOptions Options() {
    auto o = Env();
    o.base_dir = dir_.string();
    return o;
  }
  std::filesystem::path dir_;
};

TEST_F(CtlSpecFiles, TasksComeFromJsonLinesFilesAndGlobsWithDefaults) {
  Write("tiles.jsonl", "{\"data\": {\"tile\": 1}}\n\n{\"data\": {\"tile\": 2}, \"maxAttempts\": 7}\n");
  Write("shards/b.jsonl", "{\"data\": {\"tile\": 4}}\n");
  Write("shards/a.jsonl", "{\"data\": {\"tile\": 3}, \"userMetadata\": {\"own\": true}}\n");
  const auto b = Body(R"(name: j
stages:
  - type: t
    taskDefaults: {maxAttempts: 3, userMetadata: {from: defaults}}
    tasks:
      - data: {tile: 0}
    tasksFrom: [tiles.jsonl, "shards/*.jsonl"]
)",
                      Options());
  const auto& tasks = b["stages"][0]["tasks"];
  ASSERT_EQ(tasks.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(tasks[i]["data"]["tile"], i);
  EXPECT_EQ(tasks[0]["maxAttempts"], 3);
  EXPECT_EQ(tasks[2]["maxAttempts"], 7);
  EXPECT_EQ(tasks[1]["userMetadata"], json({{"from", "defaults"}}));
  EXPECT_EQ(tasks[3]["userMetadata"], json({{"own", true}}));
}

TEST_F(CtlSpecFiles, TasksFromStandardInput) {
  std::istringstream in("{\"data\": {\"n\": 1}}\n{\"data\": {\"n\": 2}}\n");
  auto o = Options();
  o.stdin_tasks = &in;
  const auto b = Body("name: j\nstages:\n  - type: t\n    tasksFrom: '-'\n", o);
  ASSERT_EQ(b["stages"][0]["tasks"].size(), 2u);
  EXPECT_EQ(b["stages"][0]["tasks"][1]["data"]["n"], 2);
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasksFrom: '-'\n", Options()),
            "spec.yaml:4:16: stages[0].tasksFrom: tasks from standard input (\"-\") need the spec in a file, not on "
            "stdin");
}

TEST_F(CtlSpecFiles, ABadTaskLineNamesItsFileAndLine) {
  Write("bad.jsonl", "{\"data\": {}}\n{\"data\": {}, \"maxAttempts\": \"x\"}\n");
  Write("broken.jsonl", "{\"data\": {}}\n\n{\"data\": \n");
  const auto dir = dir_.string();
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasksFrom: bad.jsonl\n", Options()),
            dir + "/bad.jsonl:2: maxAttempts: must be an integer from 1 to 1000000, not \"x\"");
  const auto broken = Error("name: j\nstages:\n  - type: t\n    tasksFrom: broken.jsonl\n", Options());
  EXPECT_EQ(broken.rfind(dir + "/broken.jsonl:3:", 0), 0u) << broken;
  EXPECT_EQ(Error("name: j\nstages:\n  - type: t\n    tasksFrom: 'none/*.jsonl'\n", Options()),
            "spec.yaml:4:16: stages[0].tasksFrom: no file matches '" + dir + "/none/*.jsonl'");
}

}  // namespace
}  // namespace jobnik::ctl
