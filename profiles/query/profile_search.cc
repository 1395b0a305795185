#include "profiles/query/profile_search.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/json_writer.h"
#include "profiles/computed_facts.h"
#include "profiles/profile_store.h"

namespace tessera::query {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr std::string_view kProfilePrefix = "pf/";
constexpr char kCursorTag = 'p';  // "p" + 16 hex digits of the id to resume at

constexpr int kWorkspaceField = v1::Profile::kWorkspaceFieldNumber;

// Copies the top-level fields of a serialized Profile that `fields` names into `out` (the wire
// format is a sequence of fields, so the copy parses into a Profile holding just those). False if
// the bytes are not a well-formed message.
bool ProjectFields(std::string_view bytes, const ProfileFields& fields, std::string& out) {
  out.clear();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return static_cast<size_t>(start) == bytes.size();
    if (!WireFormatLite::SkipField(&in, tag)) return false;
    const uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
    if (field < 64 && fields.Has(static_cast<int>(field))) {
      out.append(bytes.substr(start, static_cast<size_t>(in.CurrentPosition() - start)));
    }
  }
}

// Decodes what `fields` names (all of it when `fields.all`) into `profile`.
bool Decode(std::string_view bytes, const ProfileFields& fields, std::string& scratch, v1::Profile& profile) {
  profile.Clear();
  if (fields.all) return profile.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  return ProjectFields(bytes, fields, scratch) && profile.ParseFromString(scratch);
}

std::string Cursor(uint64_t next_id) { return absl::StrCat(std::string(1, kCursorTag), absl::Hex(next_id, absl::kZeroPad16)); }

absl::StatusOr<std::string> StartKey(std::string_view cursor) {
  if (cursor.empty()) return std::string(kProfilePrefix);
  uint64_t id = 0;
  bool ok = cursor.size() == 17 && cursor[0] == kCursorTag;
  for (size_t i = 1; ok && i < cursor.size(); ++i) {
    const char c = cursor[i];
    const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    ok = v >= 0;
    id = id << 4 | static_cast<uint64_t>(v < 0 ? 0 : v);
  }
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("cursor: '", AbslView(cursor), "' is not a cursor this API gave out"));
  return absl::StrCat(AbslView(kProfilePrefix), BigEndian64(id));
}



absl::Status Undecodable(std::string_view key) {
  return absl::DataLossError(
      absl::StrCat("undecodable profile under ", key.size() == 11 ? absl::StrCat("id ", ReadBigEndian64(key.substr(3))) : "a malformed key"));
}

// Visits the profiles of `workspace` ("" = all) under "pf/" from key `start`, decoded as far as
// `fields` says (plus the workspace when filtering by it; nothing at all when neither asks),
// beside their key and serialized bytes; stops when `visit` answers false or an error.
using ProfileVisitor =
    std::function<absl::StatusOr<bool>(std::string_view key, std::string_view value, v1::Profile& profile)>;
absl::Status ScanProfiles(const profiles::KeyRangeReader& reader, std::string_view start, ProfileFields fields,
                          std::string_view workspace, const ProfileVisitor& visit) {
  if (!workspace.empty()) fields.Add(kWorkspaceField);
  const bool decode = fields.all || fields.numbers != 0;
  std::string scratch;
  // Profiles are decoded into an arena, released every few thousand: a scan of a million profiles
  // would otherwise spend much of its time allocating and freeing their map entries.
  constexpr int kProfilesPerArena = 4096;
  google::protobuf::Arena arena;
  v1::Profile* profile = nullptr;
  int decoded = 0;
  absl::Status error;
  absl::Status scan = reader.Scan(kProfilePrefix, start, [&](std::string_view key, std::string_view value) {
    if (decoded++ % kProfilesPerArena == 0) {
      arena.Reset();
      profile = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
    }
    if (decode && !Decode(value, fields, scratch, *profile)) {
      error = Undecodable(key);
      return false;
    }
    // Stored without its id (profiles/profile_store.h).
    if (std::optional<uint64_t> id = profiles::ProfileIdOfKey(key)) profile->set_id(*id);
    if (!workspace.empty() && profile->workspace() != workspace) return true;
    absl::StatusOr<bool> more = visit(key, value, *profile);
    if (!more.ok()) error = more.status();
    return more.ok() && *more;
  });
  if (!scan.ok()) return scan;
  return error;
}

void WriteCondition(const profiles::Condition& c, JsonWriter& w) {
  using Kind = profiles::Condition::Kind;
  using Op = profiles::Condition::Op;
  auto operand = [&](size_t i) {
    // A number that prints back as the same text stays a number; anything else is a string (the
    // parser reads both as the same text).
    if (c.numbers[i].has_value() && absl::StrCat(*c.numbers[i]) == c.operands[i]) {
      w.Raw(c.operands[i]);
    } else {
      w.String(c.operands[i]);
    }
  };
  w.BeginObject();
  switch (c.kind) {
    case Kind::kAll:
    case Kind::kAny:
      w.Key(c.kind == Kind::kAll ? "all" : "any").BeginArray();
      for (const profiles::Condition& child : c.children) WriteCondition(child, w);
      w.EndArray();
      break;
    case Kind::kNot:
      w.Key("not");
      WriteCondition(c.children.at(0), w);
      break;
    case Kind::kTrait:
    case Kind::kComputed: {
      w.Key(c.kind == Kind::kTrait ? "trait" : "computed").String(c.name);
      static constexpr std::pair<Op, const char*> kNames[] = {
          {Op::kExists, "exists"}, {Op::kEq, "eq"},   {Op::kNe, "ne"},   {Op::kIn, "in"},   {Op::kContains, "contains"},
          {Op::kGt, "gt"},         {Op::kGte, "gte"}, {Op::kLt, "lt"},   {Op::kLte, "lte"}, {Op::kAgeBetween, "age_between"}};
      for (const auto& [op, name] : kNames) {
        if (op == c.op) w.Key(name);
      }
      if (c.op == Op::kExists) {
        w.Bool(c.exists);
      } else if (c.op == Op::kIn || c.op == Op::kAgeBetween) {
        w.BeginArray();
        for (size_t i = 0; i < c.operands.size(); ++i) operand(i);
        w.EndArray();
      } else {
        operand(0);
      }
      break;
    }
    case Kind::kEvent: {
      const bool negated = c.count_gte == 0 && c.count_lte == 0;
      w.Key(negated ? "no_event" : "event").String(c.selector.event);
      if (!c.selector.where.empty()) {
        w.Key("where").BeginObject();
        for (const auto& [property, value] : c.selector.where) w.Key(property).String(value);
        w.EndObject();
      }
      if (!negated) {
        w.Key("count_gte").Int(c.count_gte);
        if (c.count_lte.has_value()) w.Key("count_lte").Int(*c.count_lte);
      }
      if (c.within_days != 0) w.Key("within_days").Int(c.within_days);
      break;
    }
  }
  w.EndObject();
}

}  // namespace

ProfileFields FieldsOf(const profiles::Condition& condition) {
  ProfileFields fields;
  switch (condition.kind) {
    case profiles::Condition::Kind::kTrait: fields.Add(v1::Profile::kTraitsFieldNumber); break;
    case profiles::Condition::Kind::kComputed: fields.all = true; break;
    case profiles::Condition::Kind::kEvent: fields.Add(v1::Profile::kEventWindowsFieldNumber); break;
    default:
      for (const profiles::Condition& child : condition.children) {
        const ProfileFields more = FieldsOf(child);
        fields.all = fields.all || more.all;
        fields.numbers |= more.numbers;
      }
  }
  // Age bands and windows read the profile's time zone, which is its `timezone` trait.
  if (fields.numbers != 0) fields.Add(v1::Profile::kTraitsFieldNumber);
  return fields;
}

ProfilePredicate FilterPredicate(profiles::Condition parsed, const SearchContext& context, absl::Time now) {
  auto condition = std::make_shared<const profiles::Condition>(std::move(parsed));
  ProfilePredicate predicate;
  predicate.fields = FieldsOf(*condition);
  std::shared_ptr<const profiles::ComputedTraitsFacts> computed;
  if (context.computed_traits != nullptr) {
    computed = std::make_shared<const profiles::ComputedTraitsFacts>(context.computed_traits.get());
  }
  // The predicate keeps the config alive: the facts point into it.
  predicate.matches = [condition, computed, config = context.computed_traits, zone = context.default_zone,
                       now](const v1::Profile& profile) {
    const profiles::ProfileFactsView facts(&profile, zone, computed.get(), now);
    return profiles::Evaluate(*condition, facts, now);
  };
  return predicate;
}

ProfilePredicate SegmentPredicate(std::string segment) {
  ProfilePredicate predicate;
  predicate.fields.Add(v1::Profile::kSegmentsFieldNumber);
  predicate.matches = [segment = std::move(segment)](const v1::Profile& profile) {
    return profile.segments().contains(segment);
  };
  return predicate;
}

absl::StatusOr<MatchPage> FindProfiles(const profiles::KeyRangeReader& reader, const ProfilePredicate& predicate,
                                       const MatchQuery& query) {
  absl::StatusOr<std::string> start = StartKey(query.cursor);
  if (!start.ok()) return start.status();
  MatchPage page;
  int64_t count = 0;
  // Counting goes over the whole store; the page only from the cursor on.
  const std::string scan_from = query.count ? std::string(kProfilePrefix) : *start;
  absl::Status scan = ScanProfiles(
      reader, scan_from, predicate.fields, query.workspace,
      [&](std::string_view key, std::string_view value, v1::Profile& profile) -> absl::StatusOr<bool> {
        if (predicate.matches && !predicate.matches(profile)) return true;
        ++count;
        if (key < *start) return true;
        if (page.profiles.size() == query.limit) {
          if (page.next_cursor.empty()) page.next_cursor = Cursor(ReadBigEndian64(key.substr(kProfilePrefix.size())));
          return query.count;
        }
        const std::optional<uint64_t> id = profiles::ProfileIdOfKey(key);
        if (!id.has_value() || !profiles::ParseStoredProfile(*id, value, page.profiles.emplace_back())) {
          return Undecodable(key);
        }
        return true;
      });
  if (!scan.ok()) return scan;
  if (query.count) page.count = count;
  return page;
}

absl::Status ForEachMatch(const profiles::KeyRangeReader& reader, const ProfilePredicate& predicate,
                          std::string_view workspace, const MatchVisitor& visit) {
  return ScanProfiles(reader, kProfilePrefix, predicate.fields, workspace,
                      [&](std::string_view key, std::string_view value, v1::Profile& profile) -> absl::StatusOr<bool> {
                        if (predicate.matches && !predicate.matches(profile)) return true;
                        return visit(key, value);
                      });
}

absl::StatusOr<std::map<std::string, int64_t>> CountSegmentMembers(const profiles::KeyRangeReader& reader,
                                                                   std::string_view workspace) {
  std::map<std::string, int64_t> members;
  ProfileFields fields;
  fields.Add(v1::Profile::kSegmentsFieldNumber);
  absl::Status status = ScanProfiles(reader, kProfilePrefix, fields, workspace,
                                     [&](std::string_view, std::string_view, v1::Profile& profile) -> absl::StatusOr<bool> {
                                       for (const auto& [name, entered_at] : profile.segments()) ++members[name];
                                       return true;
                                     });
  if (!status.ok()) return status;
  return members;
}

std::string ConditionToJson(const profiles::Condition& condition) {
  JsonWriter w;
  WriteCondition(condition, w);
  return std::move(w).Take();
}

}  // namespace tessera::query
