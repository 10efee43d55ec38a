// Unit tests of lib/process/config.h with a small key table: flags > JOBNIK_* environment >
// YAML file > defaults, a later flag wins, errors name the key and its source, secrets
// masked when printed.
#include <gtest/gtest.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "matchers.h"
#include "process/config.h"

namespace jobnik::process {
namespace {

using domain::IsOk;

struct Toy {
  int port = 80;
  bool verbose = false;
  std::string name = "toy";
  std::string token;
};

const std::vector<Key<Toy>>& Table() {
  static const std::vector<Key<Toy>> table = {
      IntKey({"port", "JOBNIK_TOY_PORT", "--port", "port to use"}, &Toy::port, 1, 65535),
      BoolKey({"log.verbose", "JOBNIK_TOY_VERBOSE", "--verbose", "say more"}, &Toy::verbose),
      StringKey({"name", "JOBNIK_TOY_NAME", "", "a name", false, "NAME"}, &Toy::name,
                [](const std::string& v) {
                  return v.empty() ? domain::ValidationError("must not be empty") : domain::Status::Ok();
                }),
      StringKey({"auth.token", "JOBNIK_TOY_TOKEN", "--token", "a secret", true}, &Toy::token),
  };
  return table;
}

class ConfigLayers : public testing::Test {
 protected:
  ConfigLayers() {
    std::string name = (std::filesystem::temp_directory_path() / "jobnik-config-XXXXXX").string();
    dir_ = ::mkdtemp(name.data());
  }
  ~ConfigLayers() override { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& text) {
    const std::string path = dir_ + "/toy.yaml";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigLayers, DefaultsWhenNothingIsGiven) {
  const auto toy = LoadConfig(Table(), ConfigSources{});
  ASSERT_TRUE(IsOk(toy));
  EXPECT_EQ(toy->port, 80);
  EXPECT_EQ(toy->name, "toy");
}

TEST_F(ConfigLayers, FlagsBeatEnvironmentBeatsFileBeatsDefaults) {
  ConfigSources sources;
  sources.file = File("port: 81\nname: from-file\nlog:\n  verbose: yes\n");
  sources.env = {{"JOBNIK_TOY_PORT", "82"}};
  sources.flags = {{"port", "83"}};
  auto toy = LoadConfig(Table(), sources);
  ASSERT_TRUE(IsOk(toy));
  EXPECT_EQ(toy->port, 83);
  EXPECT_EQ(toy->name, "from-file");
  EXPECT_TRUE(toy->verbose);
  sources.flags.clear();
  EXPECT_EQ(LoadConfig(Table(), sources)->port, 82);
  sources.env.clear();
  EXPECT_EQ(LoadConfig(Table(), sources)->port, 81);
}

TEST_F(ConfigLayers, TheDefaultFileIsReadOnlyWhenPresent) {
  ConfigSources sources;
  sources.default_file = dir_ + "/absent.yaml";
  EXPECT_EQ(LoadConfig(Table(), sources)->port, 80);
  sources.default_file = File("port: 99\n");
  EXPECT_EQ(LoadConfig(Table(), sources)->port, 99);
  sources.file = dir_ + "/missing.yaml";  // an explicit file must exist
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(),
            "cannot read configuration file " + dir_ + "/missing.yaml");
}

TEST_F(ConfigLayers, ErrorsNameTheKeyAndWhereTheValueCameFrom) {
  ConfigSources sources;
  sources.flags = {{"port", "0"}};
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(), "flag --port: port must be between 1 and 65535, not 0");
  sources.flags.clear();
  sources.env = {{"JOBNIK_TOY_VERBOSE", "maybe"}};
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(),
            "environment JOBNIK_TOY_VERBOSE: log.verbose must be true or false, not 'maybe'");
  sources.env.clear();
  sources.file = File("nmae: x\n");
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(), *sources.file + ": unknown configuration key 'nmae'");
  sources.file = File("name: ''\n");
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(), *sources.file + ": name must not be empty");
  sources.file = File("port: [1, 2]\n");
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(), *sources.file + ": key 'port' must be a scalar value");
  sources.file = File("- port\n");
  EXPECT_EQ(LoadConfig(Table(), sources).status().message(),
            *sources.file + ": the configuration must be a YAML mapping");
}

TEST_F(ConfigLayers, ALaterFlagWinsAndOnlyGivenFlagsCount) {
  CLI::App app{"toy"};
  ConfigFlags flags;
  flags.AddTo(app, KeysOf(Table()));
  app.parse("--port 1 --token t --port 2", false);
  const auto given = flags.Given();
  EXPECT_EQ(given, (std::map<std::string, std::string>{{"port", "2"}, {"auth.token", "t"}}));
}

TEST_F(ConfigLayers, FlagHelpShowsTypeDefaultKeyAndVariable) {
  CLI::App app{"toy"};
  ConfigFlags flags;
  flags.AddTo(app, KeysOf(Table()));
  const std::string help = app.help();
  EXPECT_NE(help.find("--port INT=80"), std::string::npos) << help;
  EXPECT_NE(help.find("[port, JOBNIK_TOY_PORT]"), std::string::npos) << help;
  EXPECT_NE(help.find("--verbose BOOL=false"), std::string::npos) << help;
  EXPECT_EQ(help.find("JOBNIK_TOY_NAME"), std::string::npos) << "a key without a flag has no option: " << help;
}

TEST_F(ConfigLayers, PrintNestsGroupsAndMasksSecrets) {
  Toy toy;
  toy.token = "s3cret";
  const std::string printed = PrintConfig(Table(), toy);
  EXPECT_EQ(printed, "port: 80\nlog:\n  verbose: false\nname: toy\nauth:\n  token: \"****\"\n");
  toy.token.clear();
  EXPECT_NE(PrintConfig(Table(), toy).find("token: \"\""), std::string::npos) << PrintConfig(Table(), toy);
  toy.token = "abc";
  const std::string custom = PrintConfig(Table(), toy, [](const std::string& v) { return "<" + v.substr(0, 1) + ">"; });
  EXPECT_NE(custom.find("token: <a>"), std::string::npos) << custom;
}

TEST_F(ConfigLayers, KeysCarryTheirBuiltInDefaults) {
  const auto keys = KeysOf(Table());
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[0].default_value, "80");
  EXPECT_EQ(keys[0].type, "INT");
  EXPECT_EQ(keys[1].default_value, "false");
  EXPECT_EQ(keys[2].type, "NAME");
  EXPECT_EQ(keys[3].type, "TEXT");
  EXPECT_TRUE(keys[3].secret);
}

}  // namespace
}  // namespace jobnik::process
