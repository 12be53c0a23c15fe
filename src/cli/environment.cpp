// See environment.h.
#include "cli/environment.h"

#include <cctype>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <regex>

namespace bgerase::cli {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// The options ApplyEnvironment set (one process parses one command line).
std::set<const CLI::Option*>& SetFromEnvironment() {
  static std::set<const CLI::Option*> options;
  return options;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

}  // namespace

std::string EnvironmentName(const std::string& flag) {
  std::string name = "BGERASE_";
  for (char c : flag.substr(flag.find_first_not_of('-'))) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

bool FromEnvironment(const CLI::Option* opt) {
  return SetFromEnvironment().count(opt) > 0;
}

std::vector<Setting> ApplyEnvironment(CLI::App* cmd, const std::set<std::string>& skip,
                                      const std::set<std::string>& only) {
  std::vector<Setting> settings;
  for (CLI::Option* opt : cmd->get_options()) {
    if (opt->get_lnames().empty() || opt == cmd->get_help_ptr()) continue;
    Setting s;
    s.flag = "--" + opt->get_lnames().front();
    if (skip.count(s.flag) || (!only.empty() && !only.count(s.flag))) continue;
    s.env = EnvironmentName(s.flag);
    const bool is_flag = opt->get_expected_max() == 0;
    if (FromEnvironment(opt)) {
      s.source = "env";
      s.value = Join(opt->results());
    } else if (opt->count() > 0) {
      s.source = "flag";
      s.value = Join(opt->results());
    } else if (const char* env = std::getenv(s.env.c_str()); env && *env) {
      s.source = "env";
      s.value = env;
      const std::vector<std::string> values =
          opt->get_items_expected_max() > 1 ? SplitList(env) : std::vector<std::string>{env};
      try {
        opt->add_result(values);
        opt->run_callback();
      } catch (const CLI::ParseError& e) {
        throw CLI::ParseError(s.env + "=" + MaskSecrets(s.value) + ": " + e.what(),
                              e.get_exit_code());
      }
      s.value = Join(values);
      SetFromEnvironment().insert(opt);
    } else {
      s.source = "default";
      s.value = opt->get_default_str();
      if (is_flag && s.value.empty()) s.value = "false";
    }
    settings.push_back(std::move(s));
  }
  return settings;
}

std::string MaskSecrets(const std::string& value) {
  // scheme://user:PASSWORD@host, and libpq's password=PASSWORD parameter (in a URL's query).
  static const std::regex userinfo(R"(([A-Za-z][A-Za-z0-9+.-]*://[^/:@?#]*):[^/@?#]*@)");
  static const std::regex param(R"(([?&;\s]|^)(password=)[^&;\s]*)", std::regex::icase);
  std::string masked = std::regex_replace(value, userinfo, "$1:***@");
  return std::regex_replace(masked, param, "$1$2***");
}

void PrintSettings(std::ostream& out, const std::vector<Setting>& settings,
                   const std::map<std::string, std::string>& defaults_meaning) {
  std::size_t flag_w = 0, env_w = 0, value_w = 0;
  std::vector<std::string> values;
  for (const auto& s : settings) {
    std::string v = MaskSecrets(s.value);
    if (auto m = defaults_meaning.find(s.flag); m != defaults_meaning.end() && v.empty()) {
      v = "(" + MaskSecrets(m->second) + ")";
    }
    if (v.empty()) v = "(none)";
    flag_w = std::max(flag_w, s.flag.size());
    env_w = std::max(env_w, s.env.size());
    value_w = std::max(value_w, v.size());
    values.push_back(std::move(v));
  }
  for (std::size_t i = 0; i < settings.size(); ++i) {
    out << std::left << std::setw(static_cast<int>(flag_w + 2)) << settings[i].flag
        << std::setw(static_cast<int>(env_w + 2)) << settings[i].env
        << std::setw(static_cast<int>(value_w + 2)) << values[i] << settings[i].source << "\n";
  }
}

}  // namespace bgerase::cli
