// Shared helpers for the YAML config readers (identity, ingest, profiles, triggers, conditions,
// sinks, query, collector). Each reader used to carry its own copy of the same few functions: an
// error builder that prefixes "<section> config: <path>: ", a typed scalar read that turns a
// YAML::Exception into that error, a list-of-strings read, and the read-the-whole-file step. They
// live here once so the messages (which tests check byte for byte) cannot drift apart.
//
// Ownership and thread safety: YamlSection holds only its own copy of the message prefix and has
// no other state; it is cheap to copy, const after construction, and safe to use from several
// threads at once. The functions take YAML nodes by const reference and keep no reference to them.
// Header-only so that using it adds no link dependency; the includer must link yaml-cpp and Abseil
// (every config reader target already does).
#pragma once

#include <cstddef>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "yaml-cpp/yaml.h"

namespace tessera {

// Builds "<prefix><path>: <what>" InvalidArgument errors for one config section, where prefix is
// "<section_name>: " (e.g. YamlSection("sinks config") → "sinks config: sinks[0].url: ...") or
// nothing when section_name is empty.
class YamlSection {
 public:
  explicit YamlSection(std::string_view section_name)
      : prefix_(section_name.empty() ? std::string() : absl::StrCat(AbslView(section_name), ": ")) {}

  absl::Status Bad(std::string_view path, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, AbslView(path), ": ", AbslView(what)));
  }

  // A single value converted to T; "expected a single value" for a list or map, "cannot read '…'"
  // when yaml-cpp cannot convert it.
  template <typename T>
  absl::StatusOr<T> Scalar(const YAML::Node& node, std::string_view path) const {
    if (!node.IsScalar()) return Bad(path, "expected a single value");
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      return Bad(path, absl::StrCat("cannot read '", node.Scalar(), "'"));
    }
  }

  // A list of single values; items are reported as path[i].
  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node, std::string_view path) const {
    if (!node.IsSequence()) return Bad(path, "expected a list");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      absl::StatusOr<std::string> item = Scalar<std::string>(node[i], absl::StrCat(AbslView(path), "[", i, "]"));
      if (!item.ok()) return item.status();
      out.push_back(*std::move(item));
    }
    return out;
  }

  // A map of key to list of single values, each list appended to into[key] (items reported as
  // path.key[i]); `not_a_map` is the message when node is not a map.
  absl::Status AddStringLists(const YAML::Node& node, std::string_view path, std::string_view not_a_map,
                              std::map<std::string, std::vector<std::string>>& into) const {
    if (!node.IsMap()) return Bad(path, not_a_map);
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      absl::StatusOr<std::vector<std::string>> list = StringList(kv.second, absl::StrCat(AbslView(path), ".", key));
      if (!list.ok()) return list.status();
      into[key].insert(into[key].end(), list->begin(), list->end());
    }
    return absl::OkStatus();
  }

 private:
  std::string prefix_;
};

// The whole text of a config file, or NotFound "<not_found_prefix><path>" when it cannot be opened.
inline absl::StatusOr<std::string> ReadConfigFile(const std::string& path, std::string_view not_found_prefix) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(AbslView(not_found_prefix), path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace tessera
