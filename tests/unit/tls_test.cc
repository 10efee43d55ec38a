// Unit tests of src/jobnikd/tls.h: loading and checking the certificate, key and client CA
// files, and reloading them. The files are made with the openssl command line.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tls.h"

namespace jobnik {
namespace {

namespace fs = std::filesystem;

class TlsContextTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("jobnik-tls-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl command";
    ASSERT_TRUE(SelfSigned("a")) << "openssl req failed";
    ASSERT_TRUE(SelfSigned("b")) << "openssl req failed";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // NAME.crt and NAME.key: a self-signed certificate with the subject CN=NAME.
  bool SelfSigned(const std::string& name) const {
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" + name + " -keyout " +
        Path(name + ".key") + " -out " + Path(name + ".crt") + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  void Write(const std::string& name, const std::string& text) const { std::ofstream(Path(name)) << text; }

  fs::path dir_;
};

TEST_F(TlsContextTest, LoadsAMatchingCertificateAndKey) {
  auto tls = TlsContext::Load({Path("a.crt"), Path("a.key"), ""});
  ASSERT_TRUE(tls.ok()) << tls.status().message();
  EXPECT_EQ((*tls)->Certificate().subject, "CN=a");
  EXPECT_FALSE((*tls)->Certificate().serial.empty());
  const auto left = (*tls)->Certificate().not_after - std::chrono::system_clock::now();
  EXPECT_GT(left, std::chrono::hours(47));
  EXPECT_LT(left, std::chrono::hours(49));
  EXPECT_FALSE((*tls)->mutual());
}

TEST_F(TlsContextTest, AMissingFileIsNamedWithItsKey) {
  auto tls = TlsContext::Load({Path("none.crt"), Path("a.key"), ""});
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().message(), "tls.cert " + Path("none.crt") + ": cannot read: No such file or directory");
  tls = TlsContext::Load({Path("a.crt"), Path("none.key"), ""});
  EXPECT_EQ(tls.status().message(), "tls.key " + Path("none.key") + ": cannot read: No such file or directory");
  tls = TlsContext::Load({Path("a.crt"), Path("a.key"), Path("none.pem")});
  EXPECT_EQ(tls.status().message(), "tls.client_ca " + Path("none.pem") + ": cannot read: No such file or directory");
}

TEST_F(TlsContextTest, AFileThatIsNotPemIsNamed) {
  Write("junk.pem", "not a certificate\n");
  auto tls = TlsContext::Load({Path("junk.pem"), Path("a.key"), ""});
  ASSERT_FALSE(tls.ok());
  EXPECT_TRUE(tls.status().message().starts_with("tls.cert " + Path("junk.pem") + ": not a PEM certificate"))
      << tls.status().message();
  tls = TlsContext::Load({Path("a.crt"), Path("junk.pem"), ""});
  EXPECT_TRUE(tls.status().message().starts_with("tls.key " + Path("junk.pem") + ": not a PEM private key"))
      << tls.status().message();
  tls = TlsContext::Load({Path("a.crt"), Path("a.key"), Path("junk.pem")});
  EXPECT_TRUE(tls.status().message().starts_with("tls.client_ca " + Path("junk.pem") + ": not a PEM CA certificate"))
      << tls.status().message();
}

TEST_F(TlsContextTest, AKeyOfAnotherCertificateIsRefused) {
  auto tls = TlsContext::Load({Path("a.crt"), Path("b.key"), ""});
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().message(),
            "tls.key " + Path("b.key") + ": does not match the certificate of tls.cert " + Path("a.crt"));
}

TEST_F(TlsContextTest, AClientCaMakesItMutual) {
  auto tls = TlsContext::Load({Path("a.crt"), Path("a.key"), Path("b.crt")});
  ASSERT_TRUE(tls.ok()) << tls.status().message();
  EXPECT_TRUE((*tls)->mutual());
}

TEST_F(TlsContextTest, ReloadTakesTheNewFilesAndKeepsTheOldOnesOnError) {
  fs::copy_file(Path("a.crt"), Path("served.crt"));
  fs::copy_file(Path("a.key"), Path("served.key"));
  auto tls = TlsContext::Load({Path("served.crt"), Path("served.key"), ""});
  ASSERT_TRUE(tls.ok()) << tls.status().message();

  fs::copy_file(Path("b.crt"), Path("served.crt"), fs::copy_options::overwrite_existing);
  fs::copy_file(Path("b.key"), Path("served.key"), fs::copy_options::overwrite_existing);
  ASSERT_TRUE((*tls)->Reload().ok());
  EXPECT_EQ((*tls)->Certificate().subject, "CN=b");

  Write("served.crt", "broken\n");
  const auto status = (*tls)->Reload();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.message().starts_with("tls.cert " + Path("served.crt"))) << status.message();
  EXPECT_EQ((*tls)->Certificate().subject, "CN=b");
}

}  // namespace
}  // namespace jobnik
