// The fused pipeline's profile path in miniature, for event store and query API tests: resolve
// identifiers (merging profiles), absorb, apply, and stage the event in the event store, all
// through one MemoryKv (the real pipeline commits the same writes per batch).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/identifier.h"
#include "gtest/gtest.h"
#include "identity/identity_resolver.h"
#include "profiles/event_store.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::testing {

inline constexpr int64_t kT0 = 1'795'575'845'000;  // 2026-11-25T03:04:05.000Z
inline constexpr int64_t kMinute = 60'000;

inline v1::Event MakeEvent(const std::string& message_id, int64_t ts, const std::string& type,
                           const std::vector<std::string>& identifiers, const std::string& name = "") {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace("baankafe");
  event.set_channel(v1::CHANNEL_WEB);
  event.set_type(type);
  event.set_name(name);
  event.set_timestamp_ms(ts);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return kT0 + 100 * kMinute; }
};

class MiniPipeline {
 public:
  MiniPipeline() : resolver_(&kv_, 1, &clock_), store_(&kv_) {}

  uint64_t Apply(v1::Event event) {
    identity::Resolution resolution = resolver_.Resolve(event).value();
    identity::DropUnlinkedIdentifiers(resolution, event);
    for (const v1::MergeRecord& merge : resolution.merges) {
      std::optional<v1::Profile> loser = store_.Load(merge.loser()).value();
      v1::Profile winner = LoadOrNew(merge.winner(), event.workspace());
      if (loser.has_value()) profiles::AbsorbProfile(*loser, winner);
      store_.Save(winner);
      store_.MarkMerged(merge.loser(), merge.winner());
    }
    v1::Profile profile = LoadOrNew(resolution.profile_id, event.workspace());
    profiles::ApplyEvent(event, profile);
    store_.Save(profile);
    EXPECT_TRUE(profiles::StageEvent(&kv_, resolution.profile_id, event).ok());
    return resolution.profile_id;
  }

  uint64_t Root(const std::string& identifier) {
    return identity::LookupIdentifier(kv_, "baankafe", ParseIdentifier(identifier).value()).value().value();
  }
  v1::Profile Profile(uint64_t id) { return store_.Load(id).value().value(); }
  MemoryKv& kv() { return kv_; }
  profiles::MapRangeReader reader() const { return profiles::MapRangeReader(&kv_.data()); }

 private:
  v1::Profile LoadOrNew(uint64_t id, const std::string& workspace) {
    std::optional<v1::Profile> stored = store_.Load(id).value();
    if (stored.has_value()) return *stored;
    v1::Profile fresh;
    fresh.set_id(id);
    fresh.set_workspace(workspace);
    return fresh;
  }

  MemoryKv kv_;
  FixedClock clock_;
  identity::IdentityResolver resolver_;
  profiles::ProfileStore store_;
};

}  // namespace tessera::testing
