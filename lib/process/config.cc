#include "process/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <string_view>

extern char** environ;

namespace jobnik::process {
namespace {

using domain::Status;
using domain::ValidationError;

// Flattens a YAML mapping into dotted keys; errors name the key.
Status Flatten(const YAML::Node& node, const std::string& prefix, const std::vector<ConfigKey>& keys,
               std::map<std::string, std::string>& out, const std::string& file) {
  for (const auto& item : node) {
    const std::string key = prefix.empty() ? item.first.as<std::string>() : prefix + "." + item.first.as<std::string>();
    if (item.second.IsMap()) {
      JOBNIK_TRY(Flatten(item.second, key, keys, out, file));
    } else if (item.second.IsScalar()) {
      out[key] = item.second.as<std::string>();
    } else if (item.second.IsNull()) {
      // `database:` with nothing under it is an empty group, not a key.
      const bool group =
          std::any_of(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name.rfind(key + ".", 0) == 0; });
      if (!group) out[key] = "";
    } else {
      return ValidationError(fmt::format("{}: key '{}' must be a scalar value", file, key));
    }
  }
  return Status::Ok();
}

domain::Result<std::map<std::string, std::string>> ReadFile(const std::vector<ConfigKey>& keys,
                                                            const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    return ValidationError(fmt::format("cannot read configuration file {}", file));
  } catch (const YAML::Exception& e) {
    return ValidationError(fmt::format("{}: {}", file, e.what()));
  }
  std::map<std::string, std::string> flat;
  if (root.IsNull()) return flat;
  if (!root.IsMap()) return ValidationError(fmt::format("{}: the configuration must be a YAML mapping", file));
  try {
    JOBNIK_TRY(Flatten(root, "", keys, flat, file));
  } catch (const YAML::Exception& e) {
    return ValidationError(fmt::format("{}: {}", file, e.what()));
  }
  return flat;
}

}  // namespace

Status ParseInt(const std::string& value, long long min, long long max, long long& out) {
  long long v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return ValidationError(fmt::format("must be an integer, not '{}'", value));
  }
  if (v < min || v > max) return ValidationError(fmt::format("must be between {} and {}, not {}", min, max, v));
  out = v;
  return Status::Ok();
}

namespace {

struct DurationUnit {
  char suffix;
  long long seconds;
};
// Largest first (FormatDurationSeconds picks the first that divides).
constexpr DurationUnit kDurationUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

}  // namespace

Status ParseDurationSeconds(const std::string& value, long long min, long long max, long long& out) {
  const auto invalid = [&] {
    return ValidationError(
        fmt::format("must be a duration such as 90s, 15m, 12h or 30d (a bare number is seconds), not '{}'", value));
  };
  long long v = 0;
  if (value == "off") {
    v = 0;
  } else {
    std::string_view digits = value;
    long long unit = 1;
    if (!digits.empty()) {
      for (const auto& u : kDurationUnits) {
        if (digits.back() == u.suffix) {
          unit = u.seconds;
          digits.remove_suffix(1);
          break;
        }
      }
    }
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || v < 0) return invalid();
    if (v > max / unit) {
      return ValidationError(fmt::format("must be at most {}, not '{}'", FormatDurationSeconds(max), value));
    }
    v *= unit;
  }
  if (v < min || v > max) {
    return ValidationError(fmt::format("must be between {} and {}, not '{}'", FormatDurationSeconds(min),
                                       FormatDurationSeconds(max), value));
  }
  out = v;
  return Status::Ok();
}

std::string FormatDurationSeconds(long long seconds) {
  if (seconds == 0) return "0";
  for (const auto& u : kDurationUnits) {
    if (seconds % u.seconds == 0) return fmt::format("{}{}", seconds / u.seconds, u.suffix);
  }
  return fmt::format("{}s", seconds);
}

Status ParseBool(const std::string& value, bool& out) {
  static const std::vector<std::string> kTrue = {"true", "yes", "on", "1"}, kFalse = {"false", "no", "off", "0"};
  if (std::find(kTrue.begin(), kTrue.end(), value) != kTrue.end()) {
    out = true;
  } else if (std::find(kFalse.begin(), kFalse.end(), value) != kFalse.end()) {
    out = false;
  } else {
    return ValidationError(fmt::format("must be true or false, not '{}'", value));
  }
  return Status::Ok();
}

domain::Result<std::vector<Setting>> CollectSettings(const std::vector<ConfigKey>& keys, const ConfigSources& sources) {
  std::vector<Setting> settings;
  std::optional<std::string> file = sources.file;
  if (!file && !sources.default_file.empty() && std::filesystem::exists(sources.default_file)) {
    file = sources.default_file;
  }
  if (file) {
    JOBNIK_ASSIGN_OR_RETURN(const auto flat, ReadFile(keys, *file));
    for (const auto& [name, value] : flat) settings.push_back({name, value, *file});
  }
  for (const auto& k : keys) {
    if (auto it = sources.env.find(k.env); it != sources.env.end()) {
      settings.push_back({k.name, it->second, "environment " + k.env});
    }
  }
  for (const auto& flag : sources.flags) {
    const auto& [name, value] = flag;
    const auto k =
        std::find_if(keys.begin(), keys.end(), [&flag](const ConfigKey& key) { return key.name == flag.first; });
    settings.push_back({name, value, k != keys.end() ? "flag " + k->flag : std::string("flag")});
  }
  return settings;
}

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("JOBNIK_", 0) != 0) continue;
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::string ToYaml(const std::vector<std::pair<std::string, std::string>>& values) {
  // Top-level keys and groups in the order they first appear; a group's keys together.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> groups;
  std::vector<std::string> order;
  for (const auto& [name, value] : values) {
    const auto dot = name.find('.');
    const std::string group = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    if (group.empty()) {
      order.push_back(leaf);
    } else if (groups.find(group) == groups.end()) {
      order.push_back("." + group);
    }
    groups[group].emplace_back(leaf, value);
  }
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::size_t top = 0;
  for (const auto& entry : order) {
    if (entry[0] == '.') {
      out << YAML::Key << entry.substr(1) << YAML::Value << YAML::BeginMap;
      for (const auto& [k, v] : groups[entry.substr(1)]) out << YAML::Key << k << YAML::Value << v;
      out << YAML::EndMap;
    } else {
      const auto& [k, v] = groups[""][top++];
      out << YAML::Key << k << YAML::Value << v;
    }
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string MaskAll(const std::string& value) {
  return value.empty() ? value : std::string("****");
}

void ConfigFlags::AddTo(CLI::App& app, const std::vector<ConfigKey>& keys) {
  for (const auto& key : keys) {
    if (key.flag.empty()) continue;
    auto* o = app.add_option(key.flag, values_[key.name], key.help + " [" + key.name + ", " + key.env + "]")
                  ->type_name(key.type)
                  ->default_str(key.default_value)
                  ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag wins
    options_.emplace_back(key.name, o);
  }
}

std::map<std::string, std::string> ConfigFlags::Given() const {
  std::map<std::string, std::string> given;
  for (const auto& [name, option] : options_) {
    if (option->count() > 0) given[name] = values_.at(name);
  }
  return given;
}

}  // namespace jobnik::process
