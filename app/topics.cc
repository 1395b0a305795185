#include "app/topics.h"

#include "absl/strings/str_cat.h"

namespace tessera::app {

Topics::Topics(const std::string& prefix)
    : raw_web(absl::StrCat(prefix, "raw.web")),
      raw_social(absl::StrCat(prefix, "raw.social")),
      raw_purchase(absl::StrCat(prefix, "raw.purchase")),
      events(absl::StrCat(prefix, "events")),
      resolved(absl::StrCat(prefix, "resolved")),
      profile_changes(absl::StrCat(prefix, "profile-changes")),
      profile_updates(absl::StrCat(prefix, "profile-updates")),
      merges(absl::StrCat(prefix, "merges")),
      dlq(absl::StrCat(prefix, "dlq")),
      segment_changes(absl::StrCat(prefix, "segment-changes")),
      triggers(absl::StrCat(prefix, "triggers")) {}

const std::string& Topics::Raw(v1::Channel channel) const {
  switch (channel) {
    case v1::CHANNEL_SOCIAL: return raw_social;
    case v1::CHANNEL_PURCHASE: return raw_purchase;
    default: return raw_web;
  }
}

v1::Channel Topics::ChannelOf(const std::string& topic) const {
  if (topic == raw_web) return v1::CHANNEL_WEB;
  if (topic == raw_social) return v1::CHANNEL_SOCIAL;
  if (topic == raw_purchase) return v1::CHANNEL_PURCHASE;
  return v1::CHANNEL_UNSPECIFIED;
}

std::vector<TopicSpec> Topics::Specs(int partitions) const {
  const std::map<std::string, std::string> compacted = {{"cleanup.policy", "compact"},
                                                        {"min.cleanable.dirty.ratio", "0.1"},
                                                        {"segment.ms", "3600000"}};
  return {
      {raw_web, partitions, {}},        {raw_social, partitions, {}},      {raw_purchase, partitions, {}},
      {events, partitions, {}},         {resolved, partitions, {}},        {profile_changes, partitions, {}},
      {profile_updates, partitions, compacted}, {merges, partitions, {}}, {dlq, partitions, {}},
      {segment_changes, partitions, {}}, {triggers, partitions, {}},
  };
}

}  // namespace tessera::app
