// Unit tests of jobnikd's configuration (src/jobnikd/config.h): secrets masked in every
// connection-string form libpq reads, error wording, and the key table's help data.
#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <memory>
#include <string>

#include "config.h"

namespace jobnik {
namespace {

// What libpq reads as the password of `conninfo` (nullopt: none, or not parseable).
std::optional<std::string> LibpqPassword(const std::string& conninfo) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(conninfo.c_str(), &error),
                                                                       &PQconninfoFree);
  if (error) PQfreemem(error);
  if (!options) return std::nullopt;
  for (auto* o = options.get(); o->keyword; ++o) {
    if (std::string(o->keyword) == "password" && o->val) return std::string(o->val);
  }
  return std::nullopt;
}

struct MaskCase {
  std::string input;
  std::string expected;
};

class MaskSecretTest : public testing::TestWithParam<MaskCase> {};

TEST_P(MaskSecretTest, HidesEverySecretAndKeepsTheRest) {
  const auto& c = GetParam();
  const std::string masked = MaskSecret(c.input);
  EXPECT_EQ(masked, c.expected);
  EXPECT_EQ(masked.find("s3cret"), std::string::npos) << masked;
  EXPECT_EQ(masked.find("b c"), std::string::npos) << masked;
}

INSTANTIATE_TEST_SUITE_P(Forms, MaskSecretTest,
                         testing::Values(
                             // URL forms
                             MaskCase{"postgresql://app:s3cret@db/jobs", "postgresql://app:****@db/jobs"},
                             MaskCase{"postgres://app:s3cret@db:5433,db2/jobs?sslmode=require",
                                      "postgres://app:****@db:5433,db2/jobs?sslmode=require"},
                             MaskCase{"postgresql://app:s3%40cret@db/jobs", "postgresql://app:****@db/jobs"},
                             MaskCase{"postgresql://app:a b c@db/jobs", "postgresql://app:****@db/jobs"},
                             MaskCase{"postgresql://db/jobs?user=app&password=s3cret&connect_timeout=2",
                                      "postgresql://db/jobs?user=app&password=****&connect_timeout=2"},
                             MaskCase{"postgresql://db/jobs?pass%77ord=s3cret", "postgresql://db/jobs?pass%77ord=****"},
                             MaskCase{"postgresql://app@db/jobs?sslpassword=s3cret",
                                      "postgresql://app@db/jobs?sslpassword=****"},
                             MaskCase{"postgresql://app@db/jobs", "postgresql://app@db/jobs"},
                             // key=value forms
                             MaskCase{"host=db password=s3cret user=app", "host=db password=**** user=app"},
                             MaskCase{"host=db password = s3cret user=app", "host=db password = **** user=app"},
                             MaskCase{"password   =   s3cret", "password   =   ****"},
                             MaskCase{"host=db password='a b c' user=app", "host=db password=**** user=app"},
                             MaskCase{"host=db password='s3cret\\' a b c' user=app", "host=db password=**** user=app"},
                             MaskCase{"host=db password=s3cret\\ a\\ b\\ c user=app", "host=db password=**** user=app"},
                             MaskCase{"host=db\tpassword=s3cret\nuser=app", "host=db\tpassword=****\nuser=app"},
                             MaskCase{"sslpassword=s3cret host=db", "sslpassword=**** host=db"},
                             MaskCase{"host=db user=app", "host=db user=app"},
                             // Not a connection string libpq accepts: nothing of it is shown.
                             MaskCase{"host=db password", "****"}, MaskCase{"host=db password='s3cret", "****"},
                             MaskCase{"postgresql://app:s3cret@db/jobs?nosuchoption=1", "****"}, MaskCase{"", ""}));

TEST(MaskSecret, TheMaskedFormsStillReadAsTheSameConnectionToLibpq) {
  for (const std::string conninfo : {"host=db password = 's3cret a' port=5433", "postgresql://u:s3cret@h/d?port=1"}) {
    EXPECT_EQ(LibpqPassword(MaskSecret(conninfo)), "****") << conninfo;
  }
}

TEST(PrintConfig, MasksTheDatabasePassword) {
  Config config;
  config.database_url = "host=db password = 's3cret a b c'";
  const std::string out = PrintConfig(config);
  EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
  EXPECT_NE(out.find("****"), std::string::npos) << out;
}

TEST(LoadConfig, AnInvalidLogLevelNamesTheKeyOnce) {
  ConfigSources sources;
  sources.default_file = "/nonexistent/jobnikd.yaml";
  sources.flags["log.level"] = "verbose";
  const auto config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "flag --log-level: log.level must be one of trace, debug, info, warn, error, critical, off; not "
            "'verbose'");
  sources.flags.clear();
  sources.env["JOBNIK_LOG_FORMAT"] = "xml";
  EXPECT_EQ(LoadConfig(sources).status().message(),
            "environment JOBNIK_LOG_FORMAT: log.format must be 'text' or 'json', not 'xml'");
}

TEST(LoadConfig, LeaseBoundsMustBeOrdered) {
  ConfigSources sources;
  sources.default_file = "/nonexistent/jobnikd.yaml";
  auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->lease_min, 5);
  EXPECT_EQ(config->lease_max, 86400);
  EXPECT_EQ(config->lease_default, 300);
  sources.flags["lease.min"] = "600";
  EXPECT_EQ(LoadConfig(sources).status().message(),
            "lease.min (600) <= lease.default (300) <= lease.max (86400) does not hold");
}

TEST(LoadConfig, TlsCertAndKeyGoTogether) {
  ConfigSources sources;
  sources.default_file = "/nonexistent/jobnikd.yaml";
  sources.flags["tls.cert"] = "/etc/jobnik/cert.pem";
  EXPECT_EQ(LoadConfig(sources).status().message(), "tls.cert is set but tls.key is not: give both or neither");
  sources.flags.clear();
  sources.env["JOBNIK_TLS_KEY"] = "/etc/jobnik/key.pem";
  EXPECT_EQ(LoadConfig(sources).status().message(), "tls.key is set but tls.cert is not: give both or neither");
  sources.flags["tls.cert"] = "/etc/jobnik/cert.pem";
  const auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->TlsEnabled());
  EXPECT_EQ(config->Scheme(), "https");
}

TEST(LoadConfig, AClientCaNeedsTls) {
  ConfigSources sources;
  sources.default_file = "/nonexistent/jobnikd.yaml";
  sources.flags["tls.client_ca"] = "/etc/jobnik/ca.pem";
  EXPECT_EQ(LoadConfig(sources).status().message(),
            "tls.client_ca is set but tls.cert and tls.key are not: mutual TLS needs https");
  sources.flags.clear();
  const auto config = LoadConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->TlsEnabled());
  EXPECT_EQ(config->Scheme(), "http");
}

TEST(ConfigKeys, EveryKeyHasATypeAndItsBuiltInDefault) {
  for (const auto& key : ConfigKeys()) {
    EXPECT_FALSE(key.type.empty()) << key.name;
  }
  auto find = [](const std::string& name) {
    for (const auto& key : ConfigKeys()) {
      if (key.name == name) return key;
    }
    ADD_FAILURE() << "no key " << name;
    return ConfigKey{};
  };
  EXPECT_EQ(find("listen").type, "HOST:PORT");
  EXPECT_EQ(find("listen").default_value, "127.0.0.1:8080");
  EXPECT_EQ(find("database.pool_size").type, "INT");
  EXPECT_EQ(find("database.pool_size").default_value, "16");
  EXPECT_EQ(find("log.access").type, "BOOL");
  EXPECT_EQ(find("log.access").default_value, "true");
  EXPECT_EQ(find("http.body_limit").default_value, "1048576");
  EXPECT_EQ(find("database.url").default_value, "");
  EXPECT_EQ(find("tls.cert").type, "FILE");
  EXPECT_EQ(find("tls.client_ca").flag, "--tls-client-ca");
}

}  // namespace
}  // namespace jobnik
