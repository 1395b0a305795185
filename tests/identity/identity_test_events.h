// Events and a clock for identity unit tests: one event per call, at a minute past a fixed base
// time, with identifiers written "type:value". Header-only; plain values, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/identifier.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity::testing {

// Violations record when they were detected: a fixed clock keeps them comparable.
class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return 1'790'000'000'000; }
};

inline constexpr int64_t kBaseMs = 1'789'000'000'000;  // 2026-09-10 00:26:40 UTC

// An identify event of `workspace` at kBaseMs + `minute` minutes, from raw.web partition 1 at
// offset `minute`.
inline v1::Event MakeEvent(const std::string& message_id, int64_t minute, const std::vector<std::string>& identifiers,
                           const std::string& workspace = "baankafe") {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace(workspace);
  event.set_channel(v1::CHANNEL_WEB);
  event.set_type("identify");
  event.set_timestamp_ms(kBaseMs + minute * 60'000);
  event.mutable_source()->set_topic("raw.web");
  event.mutable_source()->set_partition(1);
  event.mutable_source()->set_offset(minute);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

}  // namespace tessera::identity::testing
