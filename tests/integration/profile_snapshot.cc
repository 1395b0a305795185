#include "tests/integration/profile_snapshot.h"

#include <simdjson.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "profiles/profile_state.h"

namespace tessera::testing {

absl::StatusOr<std::map<std::string, std::string>> ProfilesByIdentifiers(const RocksStore& store) {
  std::map<std::string, std::string> out;
  absl::Status status = store.ScanPrefix("pf/", [&](std::string_view, std::string_view value) {
    v1::Profile profile;
    if (!profile.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
    profile.clear_id();
    profile.clear_version();
    profile.clear_merged_from();
    out[absl::StrJoin(profile.identifiers(), " ")] = profiles::ProfileToJson(profile);
    return true;
  });
  if (!status.ok()) return status;
  return out;
}

namespace {

template <typename Map>
absl::Status ReadIntMap(simdjson::dom::element object, Map& out, const std::string& prefix = "") {
  simdjson::dom::object obj;
  if (object.get(obj)) return absl::InvalidArgumentError("expected an object");
  for (auto field : obj) {
    int64_t n = 0;
    if (field.value.get(n) == simdjson::SUCCESS) {
      out[prefix + std::string(field.key)] = n;
    } else {
      // nested: social {"instagram": {"comment": 2}}
      if (absl::Status s = ReadIntMap(field.value, out, prefix + std::string(field.key) + "."); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<PublishedProfile>> LiveProfilesFromUpdates(const std::vector<std::string>& values) {
  simdjson::dom::parser parser;
  struct Latest {
    uint64_t version = 0;
    bool merged = false;
    PublishedProfile profile;
  };
  absl::flat_hash_map<std::string, Latest> latest;
  for (const std::string& value : values) {
    simdjson::dom::element doc;
    if (parser.parse(value).get(doc)) return absl::InvalidArgumentError(absl::StrCat("bad JSON update: ", value));
    std::string_view id;
    uint64_t version = 0;
    if (doc["profile_id"].get(id) || doc["version"].get(version)) {
      return absl::InvalidArgumentError(absl::StrCat("update without profile_id/version: ", value));
    }
    Latest& entry = latest[std::string(id)];
    if (version < entry.version) continue;  // an older record replayed after a newer one
    entry.version = version;
    simdjson::dom::element profile;
    entry.merged = doc["profile"].get(profile) != simdjson::SUCCESS;
    if (entry.merged) continue;
    PublishedProfile p;
    p.id = std::string(id);
    p.version = version;
    simdjson::dom::array identifiers;
    if (profile["identifiers"].get(identifiers)) return absl::InvalidArgumentError("no identifiers");
    for (auto i : identifiers) p.identifiers.emplace_back(std::string_view(i));
    if (auto s = ReadIntMap(profile["event_counts"], p.event_counts); !s.ok()) return s;
    if (auto s = ReadIntMap(profile["social"], p.social_counts); !s.ok()) return s;
    if (profile["orders_count"].get(p.orders_count) || profile["refunds_count"].get(p.refunds_count)) {
      return absl::InvalidArgumentError("no orders_count/refunds_count");
    }
    simdjson::dom::object spend;
    if (profile["total_spend"].get(spend)) return absl::InvalidArgumentError("no total_spend");
    for (auto field : spend) p.total_spend[std::string(field.key)] = std::string(std::string_view(field.value));
    std::string_view name;
    if (profile["traits"]["name"].get(name) == simdjson::SUCCESS) p.name = std::string(name);
    entry.profile = std::move(p);
  }
  std::vector<PublishedProfile> live;
  for (auto& [id, entry] : latest) {
    if (!entry.merged) live.push_back(std::move(entry.profile));
  }
  return live;
}

std::string CompareWithExpected(const std::vector<PublishedProfile>& published,
                                const std::vector<ExpectedProfile>& expected) {
  absl::flat_hash_map<std::string, const PublishedProfile*> by_identifier;
  std::string problems;
  int reported = 0;
  auto problem = [&](const std::string& text) {
    if (++reported <= 10) absl::StrAppend(&problems, text, "\n");
  };
  for (const PublishedProfile& p : published) {
    for (const std::string& id : p.identifiers) {
      if (by_identifier.contains(id)) problem(absl::StrCat(id, " is in two live profiles"));
      by_identifier[id] = &p;
    }
  }
  for (const ExpectedProfile& person : expected) {
    auto it = by_identifier.find(person.key_email);
    if (it == by_identifier.end()) {
      problem(absl::StrCat("no live profile has ", person.key_email));
      continue;
    }
    const PublishedProfile& p = *it->second;
    if (p.identifiers != person.identifiers) {
      problem(absl::StrCat(person.key_email, ": identifiers [", absl::StrJoin(p.identifiers, " "), "] want [",
                           absl::StrJoin(person.identifiers, " "), "]"));
    }
    if (p.event_counts != person.event_counts) {
      problem(absl::StrCat(person.key_email, ": event_counts differ (web ", p.event_counts.count("web") ? p.event_counts.at("web") : 0,
                           " want ", person.event_counts.count("web") ? person.event_counts.at("web") : 0, ")"));
    }
    if (p.orders_count != person.orders_count || p.refunds_count != person.refunds_count) {
      problem(absl::StrCat(person.key_email, ": orders ", p.orders_count, "/", p.refunds_count, " want ",
                           person.orders_count, "/", person.refunds_count));
    }
    if (p.total_spend != person.total_spend) problem(absl::StrCat(person.key_email, ": total_spend differs"));
    if (p.social_counts != person.social_counts) problem(absl::StrCat(person.key_email, ": social counts differ"));
    if (p.name != person.name) problem(absl::StrCat(person.key_email, ": name '", p.name, "' want '", person.name, "'"));
  }
  if (published.size() != expected.size()) {
    problem(absl::StrCat(published.size(), " live profiles for ", expected.size(), " people"));
  }
  if (reported > 10) absl::StrAppend(&problems, "... and ", reported - 10, " more\n");
  return problems;
}

}  // namespace tessera::testing
