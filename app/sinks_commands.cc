#include "app/sinks_commands.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "app/cli_args.h"
#include "common/kafka.h"
#include "common/log.h"
#include "sinks/delivery_service.h"
#include "sinks/replay.h"
#include "sinks/sink_config.h"

namespace tessera::app {
namespace {

std::atomic<bool> g_sinks_stop{false};
void OnSinksSignal(int) { g_sinks_stop.store(true); }

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera sinks: %s\n", status.ToString().c_str());
  return 1;
}

struct Common {
  std::string brokers, config, data_dir, prefix;
  std::vector<sinks::DestinationConfig> destinations;
};

absl::StatusOr<Common> CommonFrom(const CliArgs& args) {
  Common c;
  c.brokers = args.GetOr("brokers", "");
  c.config = args.GetOr("config", "");
  c.data_dir = args.GetOr("data-dir", "tessera-data");
  c.prefix = args.GetOr("topic-prefix", "tessera.");
  if (c.brokers.empty() || c.config.empty()) {
    return absl::InvalidArgumentError("needs --brokers HOST:PORT and --config FILE (with a sinks: section)");
  }
  absl::StatusOr<std::vector<sinks::DestinationConfig>> destinations = sinks::LoadSinksConfig(c.config);
  if (!destinations.ok()) return destinations.status();
  c.destinations = *std::move(destinations);
  return c;
}

int Deliver(const CliArgs& args) {
  absl::StatusOr<Common> c = CommonFrom(args);
  if (!c.ok()) return Fail(c.status());
  if (c->destinations.empty()) return Fail(absl::InvalidArgumentError("the config declares no sinks.destinations"));
  const int partitions = std::stoi(args.GetOr("partitions", "4"));
  if (absl::Status s = CreateTopics(c->brokers, sinks::SinkTopicSpecs(c->destinations, c->prefix, partitions));
      !s.ok()) {
    LogWarning(absl::StrCat("sinks: could not create the dead-letter/destination topics: ", s.ToString()));
  }
  sinks::WorkerOptions options;
  options.brokers = c->brokers;
  options.topic_prefix = c->prefix;
  options.data_dir = c->data_dir;
  std::signal(SIGINT, OnSinksSignal);
  std::signal(SIGTERM, OnSinksSignal);
  absl::StatusOr<std::unique_ptr<sinks::DeliveryService>> service = sinks::DeliveryService::Start(c->destinations, options);
  if (!service.ok()) return Fail(service.status());
  LogInfo(absl::StrCat("tessera sinks deliver: ", c->destinations.size(), " destination(s), brokers ", c->brokers));
  while (!g_sinks_stop.load()) absl::SleepFor(absl::Milliseconds(100));
  absl::Status status = (*service)->Stop();
  return status.ok() ? 0 : Fail(status);
}

int Status(const CliArgs& args) {
  absl::StatusOr<Common> c = CommonFrom(args);
  if (!c.ok()) return Fail(c.status());
  const bool json = args.Has("json");
  std::string json_out = "[";
  if (!json) {
    std::printf("%-20s %12s %9s %13s %15s %10s %10s\n", "destination", "delivered", "retrying", "dead_lettered",
                "skipped_consent", "lag", "updated");
  }
  for (const sinks::DestinationConfig& d : c->destinations) {
    sinks::SinkCounters counters;
    int64_t updated_at_ms = -1;
    if (std::ifstream in(absl::StrCat(c->data_dir, "/sinks/", d.name, "/status.json")); in) {
      std::stringstream text;
      text << in.rdbuf();
      counters = sinks::CountersFromJson(text.str());
      const std::string s = text.str();
      if (auto at = s.find("\"updated_at_ms\":"); at != std::string::npos) updated_at_ms = std::atoll(s.c_str() + at + 16);
    }
    int64_t lag = -1;
    absl::StatusOr<std::vector<GroupPartitionLag>> partitions =
        ReadGroupLag(c->brokers, sinks::ConsumerGroup(d, c->prefix), sinks::InputTopics(d, c->prefix));
    if (partitions.ok()) {
      lag = 0;
      for (const GroupPartitionLag& p : *partitions) lag += p.lag();
    } else {
      LogWarning(absl::StrCat("lag of ", d.name, ": ", partitions.status().ToString()));
    }
    if (json) {
      // The counters object with the broker's lag as one more member.
      std::string item = sinks::CountersToJson(d.name, counters, updated_at_ms);
      item.pop_back();
      absl::StrAppend(&json_out, json_out.size() > 1 ? "," : "", item, ",\"lag\":", lag, "}");
    } else {
      const std::string updated =
          updated_at_ms < 0 ? "never" : absl::StrCat((absl::ToUnixMillis(absl::Now()) - updated_at_ms) / 1000, "s ago");
      std::printf("%-20s %12lld %9lld %13lld %15lld %10s %10s\n", d.name.c_str(),
                  static_cast<long long>(counters.delivered), static_cast<long long>(counters.retrying),
                  static_cast<long long>(counters.dead_lettered), static_cast<long long>(counters.skipped_consent),
                  lag < 0 ? "?" : std::to_string(lag).c_str(), updated.c_str());
    }
  }
  if (json) std::printf("%s]\n", json_out.c_str());
  return 0;
}

int Replay(const CliArgs& args) {
  absl::StatusOr<Common> c = CommonFrom(args);
  if (!c.ok()) return Fail(c.status());
  if (args.positionals().size() != 1) return Fail(absl::InvalidArgumentError("replay needs one destination NAME"));
  const std::string& name = args.positionals()[0];
  for (const sinks::DestinationConfig& d : c->destinations) {
    if (d.name != name) continue;
    if (args.Has("from-dlq")) {
      absl::StatusOr<int64_t> replayed = sinks::ReplayDeadLetters(d, c->brokers, c->prefix);
      if (!replayed.ok()) return Fail(replayed.status());
      std::printf("replayed %lld dead-lettered item(s) to %s\n", static_cast<long long>(*replayed), name.c_str());
      return 0;
    }
    if (absl::Status s = sinks::RewindDestination(d, c->brokers, c->prefix); !s.ok()) return Fail(s);
    std::printf("rewound %s: the next `tessera sinks deliver` re-sends every profile's current state\n", name.c_str());
    return 0;
  }
  return Fail(absl::NotFoundError(absl::StrCat("no destination named ", name, " in ", c->config)));
}

}  // namespace

bool IsSinksSubcommand(const std::vector<std::string>& args) {
  return !args.empty() && (args[0] == "deliver" || args[0] == "status" || args[0] == "replay");
}

int SinksCommand(const std::vector<std::string>& raw_args) {
  const std::string sub = raw_args[0];
  const std::vector<std::string> rest(raw_args.begin() + 1, raw_args.end());
  absl::StatusOr<CliArgs> args =
      CliArgs::Parse(rest, {"brokers", "config", "data-dir", "topic-prefix", "partitions"}, {"json", "from-dlq"});
  if (!args.ok()) return Fail(args.status());
  if (sub == "deliver") return Deliver(*args);
  if (sub == "status") return Status(*args);
  return Replay(*args);
}

}  // namespace tessera::app
