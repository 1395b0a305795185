// Topic names under a configurable prefix, and their partition counts and configs.
#pragma once

#include <string>
#include <vector>

#include "common/kafka.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

struct Topics {
  explicit Topics(const std::string& prefix);
  std::string raw_web, raw_social, raw_purchase;  // JSON as received
  std::string events;           // ingest -> identity: Event, keyed by workspace
  std::string resolved;         // identity -> profiles: ResolvedRecord, keyed by profile id
  std::string profile_changes;  // profiles -> sinks: ProfileUpdate (protobuf), keyed by profile id
  std::string profile_updates;  // sinks -> the world: JSON, compacted, keyed by profile id
  std::string merges;           // MergeRecord, keyed by winner id
  std::string dlq;              // DeadLetter
  std::string segment_changes;  // profiles -> the world: JSON enter/exit, keyed by profile id
  std::string triggers;         // profiles -> the world: JSON trigger occurrences, keyed by profile id

  const std::string& Raw(v1::Channel channel) const;
  v1::Channel ChannelOf(const std::string& topic) const;  // CHANNEL_UNSPECIFIED if not a raw topic
  std::vector<TopicSpec> Specs(int partitions) const;
};

}  // namespace tessera::app
