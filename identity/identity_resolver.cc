#include "identity/identity_resolver.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/identifier.h"
#include "common/status_macros.h"

namespace tessera::identity {
namespace {

// Ids occupy the low 48 bits under a 16-bit writer prefix.
constexpr int kPrefixShift = 48;
constexpr uint64_t kCounterLimit = uint64_t{1} << kPrefixShift;

constexpr char kIndexPrefix[] = "ix/";
constexpr char kDevicePrefix[] = "dv/";

std::string RedirectKey(uint64_t loser) { return absl::StrCat("rd/", BigEndian64(loser)); }

std::string SequenceKey(uint64_t prefix) { return absl::StrCat("sq/", BigEndian64(prefix)); }

std::string MergeKey(uint64_t winner, uint64_t loser) {
  std::string key = "mg/";
  AppendBigEndian64(winner, key);
  AppendBigEndian64(loser, key);
  return key;
}

// Reads an 8-byte big-endian id stored under `key`; DataLoss when the value has another size,
// because only this file writes these keys and a wrong size means a corrupt store.
absl::StatusOr<std::optional<uint64_t>> ReadId(KeyValueView& kv, std::string_view key) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, kv.Get(key));
  if (!value.has_value()) return std::nullopt;
  if (value->size() != 8) {
    return absl::DataLossError(absl::StrCat("identity store value of ", value->size(),
                                            " bytes where an 8-byte id was expected"));
  }
  return ReadBigEndian64(*value);
}

// Follows "rd/" redirects to the root. Every redirect points at a strictly smaller id (the
// winner of a merge is the smallest), so a chain that does not descend is corruption, not a
// cycle to loop on forever.
absl::StatusOr<uint64_t> FindRoot(KeyValueView& kv, uint64_t profile_id) {
  uint64_t current = profile_id;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(kv, RedirectKey(current)));
    if (!next.has_value()) return current;
    if (*next >= current) {
      return absl::DataLossError(
          absl::StrCat("identity redirect ", current, " -> ", *next, " does not point at a smaller id"));
    }
    current = *next;
  }
}

// FindRoot for the writer: also re-points every redirect on a chain of two or more hops straight at
// the root, so chains left by merges of merges (A -> B, later B -> C) stay one hop long.
absl::StatusOr<uint64_t> FindRootCompressing(KeyValueView& kv, uint64_t profile_id) {
  std::vector<uint64_t> path;
  uint64_t current = profile_id;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(kv, RedirectKey(current)));
    if (!next.has_value()) break;
    if (*next >= current) {
      return absl::DataLossError(
          absl::StrCat("identity redirect ", current, " -> ", *next, " does not point at a smaller id"));
    }
    path.push_back(current);
    current = *next;
  }
  if (path.size() >= 2) {
    const std::string root_bytes = BigEndian64(current);
    for (size_t i = 0; i + 1 < path.size(); ++i) kv.Put(RedirectKey(path[i]), root_bytes);
  }
  return current;
}

absl::StatusOr<std::optional<uint64_t>> LookupRoot(KeyValueView& kv, std::string_view workspace,
                                                   const v1::Identifier& id) {
  ASSIGN_OR_RETURN(std::optional<uint64_t> stored, ReadId(kv, IndexKey(workspace, FormatIdentifier(id))));
  if (!stored.has_value()) return std::nullopt;
  return FindRoot(kv, *stored);
}


std::string DeviceKey(std::string_view workspace, std::string_view anonymous_id) {
  return WorkspaceKey(kDevicePrefix, workspace, anonymous_id);
}

// Offset by 2^63 so negative times sort before positive ones.
void AppendEventTime(int64_t time_ms, std::string& key) {
  AppendBigEndian64(static_cast<uint64_t>(time_ms) ^ (uint64_t{1} << 63), key);
}

// What identifies one violation under a prefix: its event, rule and identifier.
void AppendViolationSuffix(const IdentityViolation& v, std::string& key) {
  AppendEventTime(v.event_time_ms, key);
  key.append(v.message_id);
  key.push_back('\0');
  key.append(v.rule);
  key.push_back('\0');
  key.append(v.identifier);
}

std::string ViolationKey(const IdentityViolation& v) {
  std::string key = ViolationKeyPrefix(v.workspace);
  AppendViolationSuffix(v, key);
  return key;
}

std::string_view TypeOf(std::string_view formatted) { return formatted.substr(0, formatted.find(':')); }

absl::StatusOr<ProfileIdentity> LoadProfileIdentity(KeyValueView& kv, uint64_t root) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv.Get(ProfileIdentityKey(root)));
  if (!bytes.has_value()) return ProfileIdentity{};  // a profile from before the rules: counts start now
  return DecodeProfileIdentity(*bytes);
}

void RemoveHeld(ProfileIdentity& profile, std::string_view identifier) {
  std::erase_if(profile.identifiers, [&](const ProfileIdentity::Held& h) { return h.identifier == identifier; });
}

ProfileIdentity::Held* FindHeld(ProfileIdentity& profile, std::string_view identifier) {
  for (ProfileIdentity::Held& h : profile.identifiers) {
    if (h.identifier == identifier) return &h;
  }
  return nullptr;
}

std::optional<std::string> UserIdOf(const ProfileIdentity& profile) {
  for (const ProfileIdentity::Held& h : profile.identifiers) {
    if (TypeOf(h.identifier) == "user_id") return h.identifier;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> PresenceFilteredPrefixes() { return {kIndexPrefix, kDevicePrefix}; }

std::string IndexKey(std::string_view workspace, std::string_view formatted_identifier) {
  return WorkspaceKey(kIndexPrefix, workspace, formatted_identifier);
}

std::string ViolationKeyPrefix(std::string_view workspace) { return WorkspaceKey("iv/", workspace); }

std::string ProfileViolationKeyPrefix(uint64_t profile_id) { return absl::StrCat("lv/", BigEndian64(profile_id)); }

std::string LinkKeyPrefix(std::string_view workspace) { return WorkspaceKey("lk/", workspace); }

std::string LinkKey(std::string_view workspace, const Claim& claim) {
  std::string key = LinkKeyPrefix(workspace);
  AppendEventTime(claim.time_ms, key);
  key.append(claim.message_id);
  return key;
}

std::string ProfileIdentityKey(uint64_t root) { return absl::StrCat("ip/", BigEndian64(root)); }

std::string MergeKeyPrefix(uint64_t winner) { return absl::StrCat("mg/", BigEndian64(winner)); }

IdentityResolver::IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock)
    : IdentityResolver(kv, id_prefix, clock, RulesByWorkspace()) {}

IdentityResolver::IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock, RulesByWorkspace rules,
                                   FingerprintIndex* index)
    : kv_(kv), id_prefix_(id_prefix), clock_(clock), rules_(std::move(rules)), index_(index) {}

absl::StatusOr<std::optional<uint64_t>> IdentityResolver::Lookup(std::string_view workspace,
                                                                 const v1::Identifier& id) {
  return LookupRoot(*kv_, workspace, id);
}

absl::StatusOr<uint64_t> IdentityResolver::Root(uint64_t profile_id) { return FindRoot(*kv_, profile_id); }

absl::StatusOr<uint64_t> IdentityResolver::AllocateId() {
  const std::string sequence_key = SequenceKey(id_prefix_);
  ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(*kv_, sequence_key));
  const uint64_t counter = next.value_or(1);
  if (counter >= kCounterLimit) {
    return absl::ResourceExhaustedError(absl::StrCat("profile ids of prefix ", id_prefix_, " are exhausted"));
  }
  kv_->Put(sequence_key, BigEndian64(counter + 1));
  return (id_prefix_ << kPrefixShift) | counter;
}

absl::StatusOr<Resolution> IdentityResolver::Resolve(const v1::Event& event) {
  if (index_ != nullptr) {
    // Seen before, together, by an earlier event, with nothing changed since: resolving it from the
    // store would write nothing and give this root (fingerprint_index.h says why).
    if (std::optional<uint64_t> root = index_->ResolveKnownEvent(event); root.has_value()) {
      Resolution known;
      known.profile_id = *root;
      return known;
    }
  }
  return ResolveFromStore(event);
}

absl::StatusOr<Resolution> IdentityResolver::ResolveFromStore(const v1::Event& event) {
  const CompiledRules& rules = rules_.For(event.workspace());
  const Claim claim{event.timestamp_ms(), event.message_id()};

  // One entry per distinct identifier.
  struct Entry {
    const v1::Identifier* identifier;
    std::string formatted;
    std::string index_key;
    std::optional<uint64_t> stored;  // what the index held (a merged-away id before compression)
    std::optional<uint64_t> root;    // nullopt: never seen before (or unlinked)
    bool linked = false;             // part of the profile the event resolves to
    Fingerprint fingerprint = {};    // its key in the fingerprint index (with an index)
  };
  std::vector<Entry> entries;
  entries.reserve(event.identifiers_size());
  absl::flat_hash_set<std::string> distinct;
  for (const v1::Identifier& identifier : event.identifiers()) {
    if (identifier.type().empty() || identifier.value().empty()) continue;
    std::string formatted = FormatIdentifier(identifier);
    if (!distinct.insert(formatted).second) continue;
    std::string index_key = IndexKey(event.workspace(), formatted);
    entries.push_back({&identifier, std::move(formatted), std::move(index_key), std::nullopt, std::nullopt, false,
                       index_ != nullptr ? IdentifierFingerprint(event.workspace(), identifier.type(), identifier.value())
                                         : Fingerprint{}});
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", event.message_id(), " has no identifier to resolve"));
  }

  Resolution resolution;
  auto violate = [&](std::string_view rule, std::string_view identifier, uint64_t held_by, std::string detail) {
    IdentityViolation& v = resolution.violations.emplace_back();
    v.rule = std::string(rule);
    v.workspace = event.workspace();
    v.identifier = std::string(identifier);
    v.held_by = held_by;
    v.message_id = event.message_id();
    v.source_topic = event.source().topic();
    v.source_partition = event.source().partition();
    v.source_offset = event.source().offset();
    v.event_time_ms = event.timestamp_ms();
    v.detected_at_ms = clock_->NowMillis();
    v.detail = std::move(detail);
  };

  // 1. Blocked values never link (and are never looked up).
  std::vector<Entry*> candidates;  // entries that may link, in priority order (below)
  for (Entry& entry : entries) {
    std::string_view blocked = rules.Blocked(entry.identifier->type(), entry.identifier->value());
    if (!blocked.empty()) {
      violate(blocked, entry.formatted, 0, "a blocked value never links");
      continue;
    }
    candidates.push_back(&entry);
  }
  for (Entry* entry : candidates) {
    if (index_ != nullptr) {
      // The index only holds identifiers whose "ix/" entry points straight at a root.
      if (std::optional<uint64_t> root = index_->LookupIdentifier(entry->fingerprint); root.has_value()) {
        entry->stored = root;
        entry->root = root;
        continue;
      }
    }
    ASSIGN_OR_RETURN(entry->stored, ReadId(*kv_, entry->index_key));
    if (!entry->stored.has_value()) continue;
    ASSIGN_OR_RETURN(uint64_t root, FindRootCompressing(*kv_, *entry->stored));
    entry->root = root;
  }

  // Roots an identifier was taken from (a device moved or shared, an email demoted) and identifiers
  // unlinked that are not this event's: what the fingerprint index must forget.
  std::vector<uint64_t> taken_from;
  std::vector<std::string> demoted;

  // Identity records of the roots involved, loaded once; `dirty` ones are written at the end.
  absl::flat_hash_map<uint64_t, ProfileIdentity> records;
  absl::flat_hash_set<uint64_t> dirty;
  auto record_of = [&](uint64_t root) -> absl::StatusOr<ProfileIdentity*> {
    auto it = records.find(root);
    if (it == records.end()) {
      ASSIGN_OR_RETURN(ProfileIdentity loaded, LoadProfileIdentity(*kv_, root));
      it = records.emplace(root, std::move(loaded)).first;
    }
    return &it->second;
  };

  // 2. Shared devices: remember which user_ids each anonymous id was seen with; past the limit the
  // anonymous id is taken out of its profile into a device profile of its own and links nothing.
  std::vector<Entry*> device_only;  // shared anonymous ids: resolvable alone, never linking
  absl::flat_hash_set<const Entry*> newly_shared;  // recorded already
  absl::flat_hash_map<std::string, std::string> device_owner;  // anonymous id -> owner "user_id:..."
  bool device_changed = false;  // the event changed what a device record says: it goes in the link log
  if (rules.rules().shared_device_rule) {
    std::vector<const Entry*> user_ids;
    for (const Entry* entry : candidates) {
      if (entry->identifier->type() == "user_id") user_ids.push_back(entry);
    }
    const size_t limit = static_cast<size_t>(rules.rules().shared_device_max_user_ids);
    for (Entry* entry : candidates) {
      if (entry->identifier->type() != "anonymous_id") continue;
      const std::string device_key = DeviceKey(event.workspace(), entry->identifier->value());
      ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv_->Get(device_key));
      DeviceRecord device;
      if (bytes.has_value()) {
        ASSIGN_OR_RETURN(device, DecodeDeviceRecord(*bytes));
      }
      bool changed = false;
      for (const Entry* user : user_ids) {
        auto it = std::find_if(device.user_ids.begin(), device.user_ids.end(),
                               [&](const ProfileIdentity::Held& h) { return h.identifier == user->formatted; });
        if (it == device.user_ids.end()) {
          if (device.user_ids.size() <= limit) {  // one past the limit is enough to know
            device.user_ids.push_back({user->formatted, claim});
            changed = true;
          }
        } else if (claim < it->claim) {
          it->claim = claim;
          changed = true;
        }
      }
      if (!device.shared && device.user_ids.size() > limit) {
        device.shared = true;
        changed = true;
        // Out of the profile it was linked to, into a device profile of its own.
        uint64_t held_by = 0;
        if (entry->root.has_value()) {
          held_by = *entry->root;
          taken_from.push_back(held_by);
          ASSIGN_OR_RETURN(ProfileIdentity * held, record_of(held_by));
          RemoveHeld(*held, entry->formatted);
          dirty.insert(held_by);
        }
        ASSIGN_OR_RETURN(uint64_t device_profile, AllocateId());
        kv_->Put(entry->index_key, BigEndian64(device_profile));
        ProfileIdentity& alone = records[device_profile];
        alone.identifiers.push_back({entry->formatted, claim});
        dirty.insert(device_profile);
        entry->stored = device_profile;
        entry->root = device_profile;
        newly_shared.insert(entry);
        violate(kRuleSharedDevice, entry->formatted, held_by,
                absl::StrCat("seen with more than ", limit, " user_ids: a shared device, unlinked into profile ",
                             device_profile));
      }
      if (changed) {
        kv_->Put(device_key, EncodeDeviceRecord(device));
        device_changed = true;
      }
      if (device.shared) {
        device_only.push_back(entry);
      } else if (const ProfileIdentity::Held* owner = device.Owner(); owner != nullptr) {
        device_owner[entry->formatted] = owner->identifier;
      }
    }
    std::erase_if(candidates, [&](Entry* e) {
      return std::find(device_only.begin(), device_only.end(), e) != device_only.end();
    });
  }

  // 3. Link in priority order: the first candidate anchors the profile; each next one joins it
  // unless a rule forbids, in which case it stays where it is (or unknown) and is recorded.
  std::sort(candidates.begin(), candidates.end(), [&](const Entry* a, const Entry* b) {
    const int ra = rules.Rank(a->identifier->type());
    const int rb = rules.Rank(b->identifier->type());
    return ra != rb ? ra < rb : a->formatted < b->formatted;
  });
  const int max_identifiers = rules.rules().max_identifiers_per_profile;
  const bool one_user_id = rules.ValueLimit("user_id") == 1;  // the rule for two identified customers
  const int max_merges = rules.rules().max_merges_per_profile;
  std::vector<uint64_t> group_roots;  // existing roots joined, in joining order
  ProfileIdentity group;              // what the resolved profile will hold
  // The best (lowest) rank among the identifiers joined so far (of existing profiles, and new ones
  // of this event, whose history begins with it): whether the group is a customer with a stronger
  // identifier, for the weak-identifier rule. Also the span of event times over which they were
  // first seen (their claims): a recycled number passes to a customer whose history starts after
  // the old owner's.
  struct History {
    int best_rank = std::numeric_limits<int>::max();
    int64_t first_ms = std::numeric_limits<int64_t>::max();
    int64_t last_ms = std::numeric_limits<int64_t>::min();
    void Add(const History& o) {
      best_rank = std::min(best_rank, o.best_rank);
      first_ms = std::min(first_ms, o.first_ms);
      last_ms = std::max(last_ms, o.last_ms);
    }
    // This history ended more than `quiet_ms` before `o` began.
    bool Before(const History& o, int64_t quiet_ms) const { return last_ms < o.first_ms - quiet_ms; }
  };
  History group_history;
  auto history_of = [&](const ProfileIdentity& profile) {
    History h;
    for (const ProfileIdentity::Held& held : profile.identifiers) {
      h.best_rank = std::min(h.best_rank, rules.Rank(TypeOf(held.identifier)));
      h.first_ms = std::min(h.first_ms, held.claim.time_ms);
      h.last_ms = std::max(h.last_ms, held.claim.time_ms);
    }
    return h;
  };
  bool group_changed = false;
  for (Entry* entry : candidates) {
    const std::string_view type = entry->identifier->type();
    const bool anchor = group_roots.empty() && group.identifiers.empty();
    if (entry->root.has_value() &&
        std::find(group_roots.begin(), group_roots.end(), *entry->root) != group_roots.end()) {
      entry->linked = true;  // already joined through another identifier of this event
    } else if (entry->root.has_value()) {
      const uint64_t root = *entry->root;
      ASSIGN_OR_RETURN(ProfileIdentity * other, record_of(root));
      std::string refusal;
      std::string_view rule;
      const std::optional<std::string> group_user = UserIdOf(group);
      const std::optional<std::string> other_user = UserIdOf(*other);
      if (!anchor && one_user_id && group_user.has_value() && other_user.has_value() && *group_user != *other_user) {
        // A device belongs to the user seen with it first by event time: move it there.
        auto owner = device_owner.find(entry->formatted);
        if (type == "anonymous_id" && owner != device_owner.end() && owner->second == *group_user) {
          // The device keeps its earliest claim: where it sat before does not depend on arrival order.
          Claim earliest = claim;
          if (const ProfileIdentity::Held* was = FindHeld(*other, entry->formatted); was != nullptr && was->claim < claim) {
            earliest = was->claim;
          }
          RemoveHeld(*other, entry->formatted);
          dirty.insert(root);
          taken_from.push_back(root);
          group.identifiers.push_back({entry->formatted, std::move(earliest)});
          group_changed = true;
          entry->linked = true;
          entry->root.reset();  // re-pointed below
          violate(kRuleDeviceReassigned, entry->formatted, root,
                  absl::StrCat("moved to ", *group_user, ", seen with it before ", *other_user));
          continue;
        }
        rule = kRuleUserIdConflict;
        refusal = absl::StrCat("its profile has ", *other_user, ", the event's has ", *group_user);
      }
      const History other_history = history_of(*other);
      if (rule.empty() && !anchor && rules.IsWeak(type)) {
        const int weak_rank = rules.Rank(type);
        if (group_history.best_rank < weak_rank && other_history.best_rank < weak_rank &&
            other_history.Before(group_history, int64_t{rules.rules().weak_quiet_days} * 86'400'000)) {
          rule = kRuleWeakLink;
          refusal = absl::StrCat("a ", AbslView(type),
                                 " alone does not merge two customers with stronger identifiers whose histories do not "
                                 "overlap in time (a recycled number)");
        }
      }
      if (rule.empty() && !anchor) {
        for (const auto& [limited_type, limit] : rules.rules().value_limits) {
          if (limit <= 0) continue;
          const int together = group.CountOfType(limited_type) + other->CountOfType(limited_type);
          if (together > limit) {
            rule = kRuleValueLimit;
            refusal = absl::StrCat("merging would give ", together, " ", limited_type, " values (limit ", limit, ")");
            break;
          }
        }
      }
      if (rule.empty() && !anchor && max_identifiers > 0 &&
          group.identifiers.size() + other->identifiers.size() > static_cast<size_t>(max_identifiers)) {
        rule = kRuleMaxIdentifiers;
        refusal = absl::StrCat("merging would give ", group.identifiers.size() + other->identifiers.size(),
                               " identifiers (cap ", max_identifiers, ")");
      }
      const int64_t merges_after = group.merges + other->merges + (group_roots.empty() ? 0 : 1);
      if (rule.empty() && !anchor && max_merges > 0 && merges_after > max_merges) {
        rule = kRuleMaxMerges;
        refusal = absl::StrCat("merging would give ", merges_after, " merges (cap ", max_merges, ")");
      }
      if (!rule.empty()) {
        if (rule == kRuleWeakLink) {
          // The event did assert the number, in its own profile: its claim counts there, so the
          // earliest claim does not depend on which events arrived before the profiles merged.
          if (ProfileIdentity::Held* held = FindHeld(*other, entry->formatted); held != nullptr && claim < held->claim) {
            held->claim = claim;
            dirty.insert(root);
          }
        }
        violate(rule, entry->formatted, root, std::move(refusal));
        continue;
      }
      group.merges = merges_after;
      group_history.Add(other_history);
      if (dirty.erase(root) > 0) group_changed = true;  // changed above (a device taken out of it)
      for (ProfileIdentity::Held& held : other->identifiers) group.identifiers.push_back(std::move(held));
      other->identifiers.clear();
      group_roots.push_back(root);
      entry->linked = true;
    } else {
      // A new identifier.
      const int limit = rules.ValueLimit(type);
      if (limit > 0 && group.CountOfType(type) >= limit) {
        if (limit == 1) {
          const std::optional<std::string> group_user = UserIdOf(group);
          violate(type == "user_id" ? kRuleUserIdConflict : kRuleValueLimit, entry->formatted, 0,
                  type == "user_id" ? absl::StrCat("the event's profile has ", group_user.value_or(""))
                                    : absl::StrCat("the profile already holds a ", AbslView(type)));
          continue;
        }
        // At the limit the earliest claims keep their place: the latest is demoted if this one is earlier.
        ProfileIdentity::Held* latest = nullptr;
        for (ProfileIdentity::Held& held : group.identifiers) {
          if (TypeOf(held.identifier) == type && (latest == nullptr || latest->claim < held.claim)) latest = &held;
        }
        if (latest == nullptr || !(claim < latest->claim)) {
          violate(kRuleValueLimit, entry->formatted, 0,
                  absl::StrCat("the profile holds ", limit, " ", AbslView(type), " values seen earlier"));
          continue;
        }
        const std::string demoted_identifier = latest->identifier;
        violate(kRuleValueLimitDemoted, demoted_identifier, group_roots.empty() ? 0 : group_roots.front(),
                absl::StrCat("unlinked: ", entry->formatted, " was seen earlier (limit ", limit, " ", AbslView(type), ")"));
        kv_->Delete(IndexKey(event.workspace(), demoted_identifier));
        RemoveHeld(group, demoted_identifier);
        for (Entry& other : entries) {
          if (other.formatted == demoted_identifier) other.linked = false;
        }
        demoted.push_back(demoted_identifier);
      }
      if (!anchor && max_identifiers > 0 && group.identifiers.size() + 1 > static_cast<size_t>(max_identifiers)) {
        violate(kRuleMaxIdentifiers, entry->formatted, 0,
                absl::StrCat("the profile holds ", group.identifiers.size(), " identifiers (cap ", max_identifiers, ")"));
        continue;
      }
      group.identifiers.push_back({entry->formatted, claim});
      group_changed = true;
      entry->linked = true;
      // A brand-new identifier is a history that begins with this event: a new owner's email first
      // seen on the order that carries a recycled number must not ride that number into the old
      // owner's profile (the weak-identifier rule below; docs/identity.md, "Measured accuracy").
      History begins;
      begins.best_rank = rules.Rank(type);
      begins.first_ms = begins.last_ms = claim.time_ms;
      group_history.Add(begins);
    }
    // The earliest event that asserted an identifier is its claim.
    if (ProfileIdentity::Held* held = FindHeld(group, entry->formatted); held != nullptr && claim < held->claim) {
      held->claim = claim;
      group_changed = true;
    }
  }

  // 4. The profile: the smallest root joined, else a device profile for an event with only shared
  // anonymous ids, else a new one.
  std::sort(group_roots.begin(), group_roots.end());
  if (!group_roots.empty()) {
    resolution.profile_id = group_roots.front();
  } else if (group.identifiers.empty() && !device_only.empty()) {
    uint64_t smallest = *device_only.front()->root;
    for (const Entry* e : device_only) smallest = std::min(smallest, *e->root);
    resolution.profile_id = smallest;
  } else {
    ASSIGN_OR_RETURN(resolution.profile_id, AllocateId());
    resolution.created = true;
    group_changed = true;
  }
  const uint64_t winner = resolution.profile_id;
  for (Entry* e : device_only) {
    if (*e->root == winner) {
      e->linked = true;
    } else if (!newly_shared.contains(e)) {
      violate(kRuleSharedDevice, e->formatted, *e->root, "a shared device links nothing");
    }
  }

  // Every other root (ascending) is merged into the winner, with the event as its evidence.
  for (size_t i = 1; i < group_roots.size(); ++i) {
    const uint64_t loser = group_roots[i];
    kv_->Put(RedirectKey(loser), BigEndian64(winner));
    kv_->Delete(ProfileIdentityKey(loser));
    dirty.erase(loser);
    v1::MergeRecord& record = resolution.merges.emplace_back();
    record.set_winner(winner);
    record.set_loser(loser);
    record.set_message_id(event.message_id());
    if (event.has_source()) *record.mutable_source() = event.source();
    for (const Entry& entry : entries) {
      if (entry.linked && (entry.root == loser || entry.root == winner)) *record.add_evidence() = *entry.identifier;
    }
    record.set_timestamp_ms(event.timestamp_ms());
    record.set_merged_at_ms(clock_->NowMillis());
    kv_->Put(MergeKey(winner, loser), record.SerializeAsString());
  }
  if (group_roots.size() > 1) group_changed = true;

  if (group_changed && (!group.identifiers.empty() || !group_roots.empty())) {
    records[winner] = std::move(group);
    dirty.insert(winner);
  }
  const bool graph_changed = group_changed || !dirty.empty() || device_changed || !resolution.violations.empty();
  for (uint64_t root : dirty) kv_->Put(ProfileIdentityKey(root), EncodeProfileIdentity(records[root]));

  // Links new identifiers, re-points the merged-away ones, and compresses paths: afterwards every
  // linked identifier of this event is one lookup away from its root.
  const std::string winner_bytes = BigEndian64(winner);
  for (const Entry& entry : entries) {
    if (entry.linked) {
      if (entry.stored != winner) kv_->Put(entry.index_key, winner_bytes);
    } else {
      resolution.unlinked.push_back(entry.formatted);
    }
  }
  for (IdentityViolation& v : resolution.violations) {
    v.resolved_to = winner;
    const std::string encoded = EncodeViolation(v);
    kv_->Put(ViolationKey(v), encoded);
    auto index_under = [&](uint64_t profile) {
      std::string key = ProfileViolationKeyPrefix(profile);
      AppendViolationSuffix(v, key);
      kv_->Put(key, encoded);
    };
    if (v.held_by != 0) index_under(v.held_by);
    if (v.resolved_to != 0 && v.resolved_to != v.held_by) index_under(v.resolved_to);
  }

  // The link log: one small write for an event that changed the graph, nothing for one whose
  // identifiers were all linked to the same profile already.
  if (graph_changed) {
    LinkRecord link;
    link.workspace = event.workspace();
    link.message_id = event.message_id();
    link.source_topic = event.source().topic();
    link.source_partition = event.source().partition();
    link.source_offset = event.source().offset();
    link.event_time_ms = event.timestamp_ms();
    link.identifiers.reserve(entries.size());
    for (const Entry& entry : entries) link.identifiers.push_back(entry.formatted);
    link.resolved_to = winner;
    kv_->Put(LinkKey(event.workspace(), claim), EncodeLinkRecord(link));
  }
  if (index_ != nullptr) {
    // What the store now says, for the next events (condition 2 of fingerprint_index.h: roots that
    // lost a merge or an identifier are forgotten, so every entry naming them is a miss).
    for (const v1::MergeRecord& merge : resolution.merges) index_->ForgetRoot(merge.loser());
    for (uint64_t root : taken_from) index_->ForgetRoot(root);
    if (!demoted.empty()) index_->ForgetRoot(winner);
    for (const std::string& formatted : demoted) {
      const size_t colon = formatted.find(':');
      index_->ForgetIdentifier(IdentifierFingerprint(event.workspace(), std::string_view(formatted).substr(0, colon),
                                                     std::string_view(formatted).substr(colon + 1)));
    }
    index_->RecordRoot(winner);
    std::vector<Fingerprint> linked;
    linked.reserve(entries.size());
    for (const Entry& entry : entries) {
      if (entry.linked) {
        index_->RecordIdentifier(entry.fingerprint, winner);
        linked.push_back(entry.fingerprint);
      } else {
        index_->ForgetIdentifier(entry.fingerprint);
      }
    }
    // Every identifier linked and no rule broken: the same event again would write nothing.
    if (resolution.unlinked.empty() && resolution.violations.empty()) {
      index_->RecordEventSet(SetFingerprint(linked), winner, event.timestamp_ms());
    }
  }
  return resolution;
}

absl::StatusOr<std::optional<uint64_t>> LookupIdentifier(KeyValueView& kv, std::string_view workspace,
                                                         const v1::Identifier& id) {
  return LookupRoot(kv, workspace, id);
}

void DropUnlinkedIdentifiers(const Resolution& resolution, v1::Event& event) {
  if (resolution.unlinked.empty()) return;
  auto* ids = event.mutable_identifiers();
  for (int i = ids->size() - 1; i >= 0; --i) {
    const std::string text = FormatIdentifier(ids->Get(i));
    if (std::find(resolution.unlinked.begin(), resolution.unlinked.end(), text) != resolution.unlinked.end()) {
      ids->DeleteSubrange(i, 1);
    }
  }
}

}  // namespace tessera::identity
