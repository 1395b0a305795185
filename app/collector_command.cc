#include "app/collector_command.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/cli_args.h"
#include "app/topics.h"
#include "common/log.h"

namespace tessera::app {
namespace {

std::atomic<bool> g_collector_stop{false};
void OnCollectorSignal(int) { g_collector_stop.store(true); }

int FailWith(const absl::Status& status) {
  std::fprintf(stderr, "tessera collector: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunningCollector>> StartCollector(const CollectorCommandOptions& options) {
  collector::CollectorConfig config;
  if (!options.config_path.empty()) {
    absl::StatusOr<collector::CollectorConfig> loaded = collector::LoadCollectorConfig(options.config_path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  } else {
    bool created = false;
    absl::StatusOr<collector::Credentials> credentials = collector::LoadOrCreateCredentials(options.data_dir, &created);
    if (!credentials.ok()) return credentials.status();
    LogInfo(absl::StrCat("collector: ", created ? "generated a write key and query token in " : "write key and query token from ",
                         options.data_dir, "/credentials (workspace \"default\", source web; use --config for more)"));
    config = collector::ConfigFromCredentials(*credentials);
  }
  collector::CollectorServerOptions server_options;
  if (absl::Status s = collector::ParseHostPort(options.http, &server_options.host, &server_options.port); !s.ok()) return s;
  server_options.io_threads = options.io_threads;
  server_options.other_routes = options.other_routes;
  const Topics topics(options.topic_prefix);
  server_options.raw_topics = {{v1::CHANNEL_WEB, topics.raw_web},
                               {v1::CHANNEL_SOCIAL, topics.raw_social},
                               {v1::CHANNEL_PURCHASE, topics.raw_purchase}};
  AsyncKafkaProducer::Options producer_options;
  producer_options.brokers = options.brokers;
  producer_options.delivery_timeout = absl::Milliseconds(options.delivery_timeout_ms);
  absl::StatusOr<std::unique_ptr<AsyncKafkaProducer>> producer = AsyncKafkaProducer::Create(producer_options);
  if (!producer.ok()) return producer.status();
  absl::StatusOr<std::unique_ptr<collector::CollectorServer>> server =
      collector::CollectorServer::Start(std::move(server_options), std::move(config), producer->get());
  if (!server.ok()) return server.status();
  return std::make_unique<RunningCollector>(*std::move(producer), *std::move(server));
}

int CollectorCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(
      raw_args, {"brokers", "http", "config", "data-dir", "topic-prefix", "io-threads", "delivery-timeout-ms"}, {});
  if (!args.ok()) return FailWith(args.status());
  CollectorCommandOptions options;
  options.brokers = args->GetOr("brokers", "");
  options.http = args->GetOr("http", options.http);
  options.config_path = args->GetOr("config", "");
  options.data_dir = args->GetOr("data-dir", options.data_dir);
  options.topic_prefix = args->GetOr("topic-prefix", options.topic_prefix);
  if (options.brokers.empty() || !args->positionals().empty()) {
    return FailWith(absl::InvalidArgumentError(
        "usage: tessera collector --brokers HOST:PORT [--http HOST:PORT] [--config FILE] [--data-dir DIR]"));
  }
  for (auto [name, out] : {std::pair{"io-threads", &options.io_threads}, std::pair{"delivery-timeout-ms", &options.delivery_timeout_ms}}) {
    if (auto v = args->Get(name); v && (!absl::SimpleAtoi(*v, out) || *out < 1)) {
      return FailWith(absl::InvalidArgumentError(absl::StrCat("--", name, " needs a positive whole number")));
    }
  }
  absl::StatusOr<std::unique_ptr<RunningCollector>> collector = StartCollector(options);
  if (!collector.ok()) return FailWith(collector.status());
  std::signal(SIGINT, OnCollectorSignal);
  std::signal(SIGTERM, OnCollectorSignal);
  LogInfo(absl::StrCat("tessera collector: http://", options.http.substr(0, options.http.rfind(':')), ":", (*collector)->port(),
                       "/v1/ → ", options.topic_prefix, "raw.*, brokers ", options.brokers));
  while (!g_collector_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LogInfo("tessera collector: stopping");
  collector->reset();
  return 0;
}

}  // namespace tessera::app
