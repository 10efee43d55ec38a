// hostile_requests: a test tool that throws the family of hostile inputs of issue #9 at
// every route of a running jobnikd, over raw TCP (so it can lie about Content-Length,
// send NULs and bytes that are not UTF-8, oversized headers, broken chunking).
//
//   hostile_requests --url http://127.0.0.1:PORT [--verbose]
//
// For every case it asserts that each HTTP answer on the connection is a 4xx (or the
// exact status a case expects, e.g. 201 for nesting right at the limit) whose body is a
// JSON object with string `code` and `message`; and after every case that GET /liveness
// still answers 200. Prints one line per failure and a summary line:
//   hostile_requests: N cases, F failures, S s
// Exit status: 0 when every case passed, 1 otherwise, 2 on a usage or setup error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/codec.h"

namespace {

using nlohmann::json;

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
};

struct Answer {
  int status = 0;
  std::string headers;
  std::string body;
};

// Splits a byte stream into complete HTTP responses (bodies framed by Content-Length,
// which is all jobnikd sends for errors). Stops at the first thing that is not a complete
// response and leaves it in *leftover.
std::vector<Answer> ParseAnswers(const std::string& stream, std::string* leftover) {
  std::vector<Answer> answers;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t end = stream.find("\r\n\r\n", pos);
    if (end == std::string::npos || stream.compare(pos, 5, "HTTP/") != 0) break;
    Answer a;
    a.headers = stream.substr(pos, end - pos);
    const std::size_t sp = a.headers.find(' ');
    a.status = sp == std::string::npos ? 0 : std::atoi(a.headers.c_str() + sp + 1);
    std::size_t length = 0;
    std::string lower = a.headers;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (const std::size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
      length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    }
    if (end + 4 + length > stream.size()) break;  // body not complete yet
    a.body = stream.substr(end + 4, length);
    pos = end + 4 + length;
    answers.push_back(std::move(a));
  }
  if (leftover) *leftover = stream.substr(pos);
  return answers;
}

// Sends `request` on a fresh connection and reads until `answers` complete responses have
// arrived or the server closes (or 45 s pass). std::nullopt when no connection is made.
// (No half-close: cpp-httplib drops the answer to a client that has shut down its side.)
std::optional<std::string> Exchange(const Target& t, const std::string& request, std::size_t answers = 1) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{45, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(t.port));
  ::inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413, 400) and close before reading it all
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[16384];
  while (ParseAnswers(response, nullptr).size() < answers) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

// Printable, bounded excerpt for failure messages.
std::string Show(const std::string& s, std::size_t max = 300) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string Http(const std::string& method, const std::string& target, const std::string& body,
                 const std::string& extra_headers = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  r += extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += "\r\n" + body;
  return r;
}

// What a case must get back: `answers` answers on its connection, each a 4xx (when
// `expect` is empty) or exactly `expect`.
struct Case {
  Case(std::string n, std::string r, std::optional<int> e = std::nullopt, std::size_t a = 1)
      : name(std::move(n)), request(std::move(r)), expect(e), answers(a) {}
  std::string name;
  std::string request;
  std::optional<int> expect;
  std::size_t answers;
};

class Runner {
 public:
  Runner(Target target, bool verbose) : target_(std::move(target)), verbose_(verbose) {}
  ~Runner() { Wait(); }

  void Run(const Case& c) {
    ++cases_;
    const auto start = std::chrono::steady_clock::now();
    const auto raw = Exchange(target_, c.request, c.answers);
    const long ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    if (!raw) return Fail(c, "could not connect");
    std::string leftover;
    const auto answers = ParseAnswers(*raw, &leftover);
    if (answers.size() < c.answers) {
      return Fail(c, std::to_string(answers.size()) + " HTTP answers, want " + std::to_string(c.answers) +
                         "; got: " + Show(*raw));
    }
    if (!leftover.empty()) return Fail(c, "trailing bytes after the answers: " + Show(leftover));
    for (const auto& a : answers) {
      const bool status_ok = c.expect ? a.status == *c.expect : (a.status >= 400 && a.status < 500);
      if (!status_ok) {
        return Fail(c, "status " + std::to_string(a.status) + " (want " +
                           (c.expect ? std::to_string(*c.expect) : std::string("4xx")) + "): " + Show(a.body));
      }
      if (a.status >= 400) {
        const json j = json::parse(a.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) return Fail(c, "body is not a JSON object: " + Show(a.body));
        if (!j.contains("code") || !j["code"].is_string() || j["code"].get<std::string>().empty() ||
            !j.contains("message") || !j["message"].is_string()) {
          return Fail(c, "error body lacks code or message: " + Show(a.body));
        }
        const std::string code = j["code"];
        if (a.status < 500 && (code == "UNKNOWN_ERROR" || code == "DATABASE_RELATED_ERROR")) {
          return Fail(c, "a 4xx with a server error code: " + Show(a.body));
        }
      }
      Print("ok   " + c.name + ": " + std::to_string(a.status) + " in " + std::to_string(ms) + " ms " +
            Show(a.body, 160));
    }
    CheckAlive(c);
  }

  // Runs a case on its own thread: for requests the server can only answer after its read
  // timeout (a body that never comes), which would otherwise hold up everything else.
  void RunInBackground(Case c) {
    background_.emplace_back([this, c = std::move(c)] { Run(c); });
  }
  void Wait() {
    for (auto& t : background_) t.join();
    background_.clear();
  }

  void CheckAlive(const Case& after) {
    const auto raw = Exchange(target_, Http("GET", "/liveness", ""));
    const auto answers = raw ? ParseAnswers(*raw, nullptr) : std::vector<Answer>{};
    if (answers.empty() || answers[0].status != 200) Fail(after, "GET /liveness failed after this case");
  }

  int cases() const { return cases_; }
  int failures() const { return failures_; }

 private:
  void Print(const std::string& line) {
    if (!verbose_) return;
    std::lock_guard lock(mu_);
    std::printf("%s\n", line.c_str());
  }
  void Fail(const Case& c, const std::string& why) {
    ++failures_;
    std::lock_guard lock(mu_);
    std::printf("FAIL %s: %s\n", c.name.c_str(), why.c_str());
    std::fflush(stdout);
  }
  Target target_;
  bool verbose_;
  std::atomic<int> cases_{0};
  std::atomic<int> failures_{0};
  std::mutex mu_;
  std::vector<std::thread> background_;
};

// A request that must succeed (setup); returns the parsed body or exits 2.
json MustCall(const Target& t, const std::string& method, const std::string& path, const std::string& body,
              int status) {
  const auto raw = Exchange(t, Http(method, path, body));
  const auto answers = raw ? ParseAnswers(*raw, nullptr) : std::vector<Answer>{};
  if (answers.empty() || answers[0].status != status) {
    std::fprintf(stderr, "hostile_requests: setup %s %s failed: %s\n", method.c_str(), path.c_str(),
                 raw ? Show(*raw).c_str() : "no connection");
    std::exit(2);
  }
  return json::parse(answers[0].body);
}

std::string Nested(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Throws hostile requests at every jobnikd route"};
  std::string url;
  bool verbose = false;
  app.add_option("--url", url, "jobnikd base URL, http://127.0.0.1:PORT")->required();
  app.add_flag("--verbose", verbose, "print every case");
  CLI11_PARSE(app, argc, argv);
  Target target;
  const std::string prefix = "http://";
  const auto colon = url.rfind(':');
  if (url.compare(0, prefix.size(), prefix) != 0 || colon == std::string::npos || colon < prefix.size()) {
    std::fprintf(stderr, "hostile_requests: --url must be http://HOST:PORT\n");
    return 2;
  }
  target.host = url.substr(prefix.size(), colon - prefix.size());
  target.port = std::atoi(url.c_str() + colon + 1);
  const auto start = std::chrono::steady_clock::now();

  // Real entities, so handlers get past their lookups where the input allows it.
  const json job =
      MustCall(target, "POST", "/v1/jobs",
               R"({"name":"hostile","data":{},"stages":[{"type":"hostile","data":{},"tasks":[{"data":{}}]}]})", 201);
  const std::string job_id = job["id"], stage_id = job["stages"][0]["id"];
  const json tasks = MustCall(target, "GET", "/v1/stages/" + stage_id + "/tasks", "", 200);
  const std::string task_id = tasks[0]["id"];

  struct Route {
    std::string method;
    std::string path;  // with real ids
    std::string id;    // the id segment, "" when none
    bool body;
  };
  const std::vector<Route> routes = {
      {"GET", "/v1/jobs", "", false},
      {"POST", "/v1/jobs", "", true},
      {"GET", "/v1/jobs/" + job_id, job_id, false},
      {"PATCH", "/v1/jobs/" + job_id + "/user-metadata", job_id, true},
      {"PATCH", "/v1/jobs/" + job_id + "/priority", job_id, true},
      {"PUT", "/v1/jobs/" + job_id + "/status", job_id, true},
      {"GET", "/v1/jobs/" + job_id + "/stages", job_id, false},
      {"GET", "/v1/jobs/" + job_id + "/events", job_id, false},
      {"POST", "/v1/jobs/" + job_id + "/stage", job_id, true},
      {"GET", "/v1/stages", "", false},
      {"GET", "/v1/stages/" + stage_id, stage_id, false},
      {"GET", "/v1/stages/" + stage_id + "/summary", stage_id, false},
      {"PATCH", "/v1/stages/" + stage_id + "/user-metadata", stage_id, true},
      {"PUT", "/v1/stages/" + stage_id + "/status", stage_id, true},
      {"GET", "/v1/stages/" + stage_id + "/tasks", stage_id, false},
      {"POST", "/v1/stages/" + stage_id + "/tasks", stage_id, true},
      {"PATCH", "/v1/stages/hostile-none/tasks/dequeue", "hostile-none", false},
      {"GET", "/v1/tasks", "", false},
      {"GET", "/v1/tasks/" + task_id, task_id, false},
      {"PATCH", "/v1/tasks/" + task_id + "/user-metadata", task_id, true},
      {"PUT", "/v1/tasks/" + task_id + "/status", task_id, true},
      // The task is PENDING: even a well-formed heartbeat (an empty body is one) is a 409.
      {"POST", "/v1/tasks/" + task_id + "/heartbeat", task_id, true},
      // Retries (extensions) of a job and a task that are not FAILED: 409.
      {"POST", "/v1/jobs/" + job_id + "/retry", job_id, false},
      {"POST", "/v1/tasks/" + task_id + "/retry", task_id, false},
      // The batch routes (extensions): a claim of a type with no tasks, a report.
      {"POST", "/v1/tasks/claim", "", true},
      {"POST", "/v1/tasks/status", "", true},
      {"DELETE", "/v1/jobs/" + job_id, job_id, false},
      {"GET", "/liveness", "", false},
      {"GET", "/readiness", "", false},
      {"GET", "/metrics", "", false},
      {"GET", "/openapi.yaml", "", false},
  };

  const std::size_t limit = jobnik::domain::kMaxJsonDepth;
  const std::string nul(1, '\0');
  // Bodies no route may accept. Each is a valid-looking body for the v1 routes with one
  // hostile part, so a parser that let the part through would reach the store.
  const std::vector<std::pair<std::string, std::string>> bad_bodies = {
      {"nesting one past the limit", R"({"name":"ab","type":"t","data":{"x":)" + Nested(limit - 1) + "}}"},
      {"the issue's 25000-level body", R"({"name":"ab","data":{"x":)" + Nested(25'000) + "}}"},
      {"100000 unclosed objects",
       [] {
         std::string s;
         for (int i = 0; i < 100'000; ++i) s += R"({"a":)";
         return s;
       }()},
      {"number 1e400", R"({"name":"ab","type":"t","data":{"x":1e400},"status":"PENDING","priority":"HIGH"})"},
      {"number -1e400", R"({"name":"ab","type":"t","data":{"x":-1e400},"status":"PENDING","priority":"HIGH"})"},
      {"number 1e999999", R"({"name":"ab","type":"t","data":{"x":1e999999}})"},
      {"array of 1e400", "[{\"data\":{\"x\":1e400}}]"},
      {"maxAttempts 1e400", R"([{"data":{},"maxAttempts":1e400}])"},
      {"lone high surrogate", R"({"name":"ab","type":"t","data":{"x":"\ud800"}})"},
      {"lone low surrogate", R"({"name":"ab","type":"t","data":{"x":"\udc00"}})"},
      {"escaped U+0000 in a value", R"({"name":"ab","type":"t","data":{"x":"a\u0000b"},"a":"\u0000"})"},
      {"escaped U+0000 in a key", R"({"name":"ab","type":"t","data":{"k\u0000":1},"k\u0000":1})"},
      {"array with U+0000", R"([{"data":{"x":"\u0000"}}])"},
      {"raw invalid UTF-8", "{\"name\":\"a\xff\xfe\",\"type\":\"\xc0\xaf\",\"data\":{\"x\":\"\xed\xa0\x80\"}}"},
      {"raw control character in a string", "{\"name\":\"a\x01\",\"data\":{}}"},
      {"NUL then garbage",
       R"({"name":"ab","type":"t","data":{},"status":"PENDING","priority":"HIGH"})" + nul + "garbage"},
      {"NUL in an array body", R"([{"data":{}}])" + nul + "]"},
      {"NUL alone", nul},
      {"only whitespace", " \r\n\t "},
      {"null", "null"},
      {"a string", "\"x\""},
      {"truncated", R"({"name":"ab","data":{)"},
      {"two documents", R"({"status":"PENDING"}{"status":"PENDING"})"},
      {"random bytes", "\x8f\x01\xff\x00\x7f{[\"\\"},
  };

  Runner runner(target, verbose);
  // A body that never comes: answered (400, or 413 after cpp-httplib has tried to skip the
  // announced bytes) only at the server's read timeout, so these run alongside the rest.
  const std::string job_body = R"({"name":"ab","data":{}})";
  auto with_headers = [&](const std::string& headers, const std::string& body) {
    return "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + "\r\n" + body;
  };
  runner.RunInBackground({"Content-Length longer than the body",
                          with_headers("Content-Type: application/json\r\nContent-Length: 500\r\n", job_body)});
  runner.RunInBackground({"negative Content-Length", with_headers("Content-Length: -5\r\n", job_body)});
  runner.RunInBackground(
      {"huge Content-Length", with_headers("Content-Length: 99999999999999999999999\r\n", job_body)});
  runner.RunInBackground(
      {"Content-Length over the body limit", with_headers("Content-Length: 1073741824\r\n", job_body)});
  runner.RunInBackground(
      {"chunked with a huge chunk size", with_headers("Transfer-Encoding: chunked\r\n", "fffffffffffffff\r\nab\r\n")});
  runner.RunInBackground(
      {"chunked without the last chunk", with_headers("Transfer-Encoding: chunked\r\n", "5\r\n{\"a\":\r\n")});
  for (const auto& r : routes) {
    const std::string where = r.method + " " + r.path;
    // Bodies (also to routes that take none, where the body must not matter... except
    // that GET routes answer 200: so only body routes here).
    if (r.body) {
      for (const auto& [name, body] : bad_bodies) runner.Run({where + ": " + name, Http(r.method, r.path, body)});
      runner.Run({where + ": empty body", Http(r.method, r.path, "")});
    }
    // Query parameter names and values that are not UTF-8 or hold NUL.
    runner.Run({where + ": query name not UTF-8", Http(r.method, r.path + "?%FF%FE=1", "")});
    runner.Run({where + ": raw query name not UTF-8", Http(r.method, r.path + "?\xff\xfe=1", "")});
    runner.Run({where + ": query name with NUL", Http(r.method, r.path + "?a%00b=1", "")});
    // The id segment: not UTF-8, NUL, too long.
    if (!r.id.empty()) {
      const std::size_t at = r.path.find(r.id);
      for (const auto& [name, id] :
           std::vector<std::pair<std::string, std::string>>{{"id not UTF-8", "%FF%C0%AF"},
                                                            {"raw id not UTF-8", "\xff\xc0\xaf"},
                                                            {"id with NUL", "ab%00cd"},
                                                            {"id 4 KB long", std::string(4096, 'a')},
                                                            {"id of lone surrogate bytes", "%ED%A0%80"}}) {
        const std::string path = r.path.substr(0, at) + id + r.path.substr(at + r.id.size());
        runner.Run({where + ": " + name, Http(r.method, path, r.body ? "{}" : "")});
      }
    }
    // Methods the path does not take.
    for (const std::string m : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
      const bool taken = std::any_of(routes.begin(), routes.end(),
                                     [&](const Route& other) { return other.path == r.path && other.method == m; });
      if (!taken) runner.Run({where + ": method " + m, Http(m, r.path, "")});
    }
  }

  // Times in the date filters.
  for (const char* list : {"/v1/jobs", "/v1/tasks"}) {
    for (const char* param : {"from_date", "end_date"}) {
      for (const char* value :
           {"0000-06-01T00:00:00Z", "0001-01-01T00:00:00%2B01:00", "0000-01-01", "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:30:00-00:31", "10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "2026-02-30",
            "2026-11-30T25:00:00Z", "%FF", "2026-11-30%00", "99999999999999999999", "1e400"}) {
        runner.Run({std::string("GET ") + list + "?" + param + "=" + value,
                    Http("GET", std::string(list) + "?" + param + "=" + value, "")});
      }
    }
  }
  // Other query values that are not UTF-8 or hold NUL.
  for (const char* q :
       {"job_name=%FF%FE", "job_name=ab%00cd", "priority=%FF", "should_return_stages=%00", "job_name=a&job_name=b"}) {
    runner.Run({std::string("GET /v1/jobs?") + q, Http("GET", std::string("/v1/jobs?") + q, "")});
  }
  // The event log's paging: limits out of bounds or not numbers, cursors that are not one.
  for (const char* q : {"limit=%FF", "limit=0", "limit=-1", "limit=1001", "limit=99999999999999999999", "limit=1e400",
                        "limit=1%00", "cursor=%FF%FE", "cursor=a%00b", "cursor=ZTE6LTE", "cursor=dDE6MQ",
                        "limit=1&limit=2", "page=1", "page_size=5"}) {
    const std::string path = "/v1/jobs/" + job_id + "/events?" + q;
    runner.Run({"GET " + path, Http("GET", path, "")});
  }
  runner.Run({"GET events: a 300-byte cursor",
              Http("GET", "/v1/jobs/" + job_id + "/events?cursor=" + std::string(300, 'A'), "")});
  for (const char* q : {"stage_type=%FF", "stage_type=a%00", "status=%C0%AF", "stage_id=%FF"}) {
    runner.Run({std::string("GET /v1/tasks?") + q, Http("GET", std::string("/v1/tasks?") + q, "")});
  }
  runner.Run({"dequeue of a type that is not UTF-8", Http("PATCH", "/v1/stages/%FF%FE/tasks/dequeue", "")});
  runner.Run({"dequeue of a raw type that is not UTF-8", Http("PATCH", "/v1/stages/\xff\xfe/tasks/dequeue", "")});
  runner.Run({"unknown path not UTF-8", Http("GET", "/v1/\xff\xfe/%FF", "")});
  runner.Run({"unknown path with NUL", Http("GET", "/v1/a%00b", "")});

  // The transport: what an HTTP parser sees.
  // A body shorter than announced: the request is what Content-Length says, the rest is
  // dropped with the connection.
  runner.Run({"Content-Length shorter than the body",
              "PUT /v1/tasks/" + task_id +
                  "/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                  "Content-Length: 5\r\n\r\n"
                  R"({"status":"COMPLETED"})"});
  runner.Run({"non-numeric Content-Length", with_headers("Content-Length: abc\r\n", job_body)});
  runner.Run(
      {"two different Content-Lengths",
       with_headers("Content-Length: 3\r\nContent-Length: " + std::to_string(job_body.size()) + "\r\n", job_body)});
  runner.Run({"chunked garbage", with_headers("Transfer-Encoding: chunked\r\n", "zz\r\ngarbage\r\n0\r\n\r\n")});
  runner.Run({"chunked hostile body", with_headers("Transfer-Encoding: chunked\r\n",
                                                   "4\r\n[[[[\r\n4\r\n1e40\r\n4\r\n0]]]\r\n1\r\n]\r\n0\r\n\r\n")});
  runner.Run({"unknown Transfer-Encoding", with_headers("Transfer-Encoding: gzip\r\nContent-Length: 3\r\n", "abc")});
  runner.Run({"one 64 KB header", with_headers("X-Big: " + std::string(64 * 1024, 'a') + "\r\n", "")});
  runner.Run({"one 1 MB header", with_headers("X-Big: " + std::string(1024 * 1024, 'a') + "\r\n", "")});
  runner.Run({"10000 headers", [&] {
                std::string h;
                for (int i = 0; i < 10'000; ++i) h += "X-H" + std::to_string(i) + ": v\r\n";
                return with_headers(h, "");
              }()});
  runner.Run({"header with NUL and bytes that are not UTF-8",
              with_headers("X-Request-Id: a" + nul + "b\xff\r\ntraceparent: \xff\xfe\r\nContent-Length: 2\r\n", "{}")});
  runner.Run({"a 16 KB request target", Http("GET", "/v1/jobs?job_name=" + std::string(16 * 1024, 'a'), "")});
  runner.Run({"an unknown method", Http("FROB", "/v1/jobs", "")});
  runner.Run({"a method not UTF-8", Http("G\xffT", "/v1/jobs", "")});
  runner.Run({"HTTP/9", "GET /v1/jobs HTTP/9\r\n\r\n"});
  runner.Run({"a garbage request line", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15)});
  runner.Run({"a bare LF request", "GET /nowhere HTTP/1.1\nHost: 127.0.0.1\n\n"});
  runner.Run({"a body over the limit", Http("POST", "/v1/jobs", std::string(4 * 1024 * 1024, '['))});

  // Right at the limits: accepted and stored (PostgreSQL's jsonb holds this depth).
  runner.Run({"a job nesting exactly at the limit",
              Http("POST", "/v1/jobs", R"({"name":"ab","data":{"x":)" + Nested(limit - 2) + "}}"), 201});
  runner.Run({"user metadata nesting exactly at the limit",
              Http("PATCH", "/v1/tasks/" + task_id + "/user-metadata", "{\"x\":" + Nested(limit - 1) + "}"), 200});
  runner.Run(
      {"huge integers and tiny floats are stored",
       Http(
           "POST", "/v1/jobs",
           R"({"name":"ab","data":{"big":123456789012345678901234567890,"tiny":1e-400,"max":1.7976931348623157e308,"s":"\ud83d\ude00\uffff"}})"),
       201});
  runner.Run({"the oldest and newest dates are fine",
              Http("GET", "/v1/tasks?from_date=0001-01-01T00:00:00Z&end_date=9999-12-31T23:59:59.999999Z", ""), 200});

  runner.Wait();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("hostile_requests: %d cases, %d failures, %.1f s\n", runner.cases(), runner.failures(), seconds);
  return runner.failures() == 0 ? 0 : 1;
}
