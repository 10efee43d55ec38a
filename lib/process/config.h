// Layered configuration for a program: flags > JOBNIK_* environment > YAML file > defaults.
//
// A program declares its keys once in a table (Key<T>: name, environment variable, flag,
// help, type name, whether it is a secret, and how to set and read it in its config struct
// T); loading, validation, --print-config and --help all follow that table. Errors name the
// key and the source of its value ("flag --log-level: log.level must be ...",
// "environment JOBNIK_X: ...", "/etc/jobnik/x.yaml: unknown configuration key 'y'").
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/error.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace jobnik::process {

// What a key is, independent of the struct it sets.
struct ConfigKey {
  std::string name;  // YAML path, e.g. "database.url"
  std::string env;   // JOBNIK_DATABASE_URL
  std::string flag;  // --database-url (empty: no flag)
  std::string help;
  bool secret = false;          // masked by --print-config
  std::string type{};           // shown in --help: INT, BOOL, TEXT or a more telling name
  std::string default_value{};  // the built-in default, as a flag would spell it
};

// One key of the table of a config struct T.
template <typename T>
struct Key {
  ConfigKey key;
  // Parses `value` into the config; the error says what is wrong without the key's name
  // ("must be an integer, not 'x'"), which the loader adds with the value's source.
  std::function<domain::Status(T&, const std::string&)> set;
  // The value as a flag would spell it.
  std::function<std::string(const T&)> get;
};

// ---- value parsers (errors as for Key::set) ----
domain::Status ParseInt(const std::string& value, long long min, long long max, long long& out);
// true/yes/on/1 or false/no/off/0.
domain::Status ParseBool(const std::string& value, bool& out);
// A whole number of seconds, minutes, hours or days ("90s", "15m", "12h", "30d"; a bare
// number is seconds), between `min` and `max` seconds; "off" is 0 (allowed when min is 0).
domain::Status ParseDurationSeconds(const std::string& value, long long min, long long max, long long& out);
// Seconds as ParseDurationSeconds reads them, in the largest unit that divides them
// (2592000 -> "30d", 90 -> "90s"; 0 -> "0").
std::string FormatDurationSeconds(long long seconds);

template <typename T, typename Int>
Key<T> IntKey(ConfigKey key, Int T::*field, long long min, long long max) {
  if (key.type.empty()) key.type = "INT";
  return {std::move(key),
          [field, min, max](T& c, const std::string& v) {
            long long out = 0;
            auto s = ParseInt(v, min, max, out);
            if (s.ok()) c.*field = static_cast<Int>(out);
            return s;
          },
          [field](const T& c) { return std::to_string(c.*field); }};
}

// A duration in seconds, written with a unit (ParseDurationSeconds).
template <typename T, typename Int>
Key<T> DurationKey(ConfigKey key, Int T::*field, long long min, long long max) {
  if (key.type.empty()) key.type = "DURATION";
  return {std::move(key),
          [field, min, max](T& c, const std::string& v) {
            long long out = 0;
            auto s = ParseDurationSeconds(v, min, max, out);
            if (s.ok()) c.*field = static_cast<Int>(out);
            return s;
          },
          [field](const T& c) { return FormatDurationSeconds(c.*field); }};
}

template <typename T>
Key<T> BoolKey(ConfigKey key, bool T::*field) {
  if (key.type.empty()) key.type = "BOOL";
  return {std::move(key), [field](T& c, const std::string& v) { return ParseBool(v, c.*field); },
          [field](const T& c) { return std::string(c.*field ? "true" : "false"); }};
}

template <typename T>
Key<T> StringKey(ConfigKey key, std::string T::*field,
                 std::function<domain::Status(const std::string&)> check = nullptr) {
  if (key.type.empty()) key.type = "TEXT";
  return {std::move(key),
          [field, check = std::move(check)](T& c, const std::string& v) {
            if (check) JOBNIK_TRY(check(v));
            c.*field = v;
            return domain::Status::Ok();
          },
          [field](const T& c) { return c.*field; }};
}

// Where each layer comes from.
struct ConfigSources {
  std::optional<std::string> file;           // explicit --config (must exist)
  std::string default_file;                  // read only when present (empty: none)
  std::map<std::string, std::string> env;    // usually Environment()
  std::map<std::string, std::string> flags;  // key name -> flag value given (a later flag won)
};

// One value of one layer, where it came from: "flag --listen", "environment JOBNIK_LISTEN"
// or the file's path.
struct Setting {
  std::string name;
  std::string value;
  std::string origin;
};

// The values of every layer, in the order they apply (file, environment, flags), so that
// applying them one after the other leaves the highest layer's value. Errors: the file
// cannot be read, is not a YAML mapping, or holds a non-scalar value (named). Unknown
// names are left for Apply to report.
domain::Result<std::vector<Setting>> CollectSettings(const std::vector<ConfigKey>& keys, const ConfigSources& sources);

// The process environment's JOBNIK_* variables.
std::map<std::string, std::string> Environment();

// `values` (key name, value; in table order) as YAML, nested by the first dot of the name.
std::string ToYaml(const std::vector<std::pair<std::string, std::string>>& values);

// "****" for a non-empty secret: the default masking of --print-config.
std::string MaskAll(const std::string& value);

// The keys of a table, each with its built-in default (read from a default-constructed T).
template <typename T>
std::vector<ConfigKey> KeysOf(const std::vector<Key<T>>& table) {
  std::vector<ConfigKey> keys;
  const T defaults{};
  for (const auto& k : table) {
    keys.push_back(k.key);
    keys.back().default_value = k.get(defaults);
  }
  return keys;
}

// Defaults, then every layer of `sources` applied in turn. Errors name the key and source.
template <typename T>
domain::Result<T> LoadConfig(const std::vector<Key<T>>& table, const ConfigSources& sources) {
  JOBNIK_ASSIGN_OR_RETURN(const auto settings, CollectSettings(KeysOf(table), sources));
  T config{};
  for (const auto& s : settings) {
    const Key<T>* key = nullptr;
    for (const auto& k : table) {
      if (k.key.name == s.name) key = &k;
    }
    if (!key) return domain::ValidationError(s.origin + ": unknown configuration key '" + s.name + "'");
    if (auto status = key->set(config, s.value); !status.ok()) {
      return domain::ValidationError(s.origin + ": " + s.name + " " + status.message());
    }
  }
  return config;
}

// The configuration as YAML in table order, each secret passed through `mask`.
template <typename T>
std::string PrintConfig(const std::vector<Key<T>>& table, const T& config,
                        const std::function<std::string(const std::string&)>& mask = MaskAll) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& k : table) {
    std::string value = k.get(config);
    values.emplace_back(k.key.name, k.key.secret ? mask(value) : value);
  }
  return ToYaml(values);
}

// One command-line option per key that has a flag. The value is taken as text and checked
// when the layers are merged (so its error names the key); --help shows the type name,
// the built-in default, the key and its environment variable; a later flag wins.
class ConfigFlags {
 public:
  void AddTo(CLI::App& app, const std::vector<ConfigKey>& keys);
  // Key name -> value, for the flags given on the command line (after parsing).
  std::map<std::string, std::string> Given() const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::pair<std::string, CLI::Option*>> options_;
};

}  // namespace jobnik::process
