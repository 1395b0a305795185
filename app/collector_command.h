// `tessera collector`: the Segment-compatible HTTP tracking API in front of the raw topics, and the
// same collector inside `tessera run --http HOST:PORT`.
//
// A RunningCollector owns its Kafka producer and HTTP server; destroying it answers the requests in
// flight, then stops. Create and destroy it from one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kafka_async.h"
#include "ingest/collector/collector_server.h"

namespace tessera::app {

struct CollectorCommandOptions {
  std::string brokers;
  std::string http = "127.0.0.1:8088";
  std::string config_path;  // "": credentials generated into data_dir
  std::string data_dir = "tessera-data";
  std::string topic_prefix = "tessera.";
  int io_threads = 2;
  int delivery_timeout_ms = 10'000;
  // Requests for paths the collector does not serve (`tessera run` mounts the query API here).
  std::function<bool(evhttp_request*)> other_routes;
};

class RunningCollector {
 public:
  RunningCollector(std::unique_ptr<AsyncKafkaProducer> producer, std::unique_ptr<collector::CollectorServer> server)
      : producer_(std::move(producer)), server_(std::move(server)) {}
  ~RunningCollector() {
    server_.reset();  // answers what is in flight first: it borrows the producer
    producer_.reset();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<AsyncKafkaProducer> producer_;
  std::unique_ptr<collector::CollectorServer> server_;
};

// Loads the config (or creates DATA_DIR/credentials and says where on stderr), connects the
// producer and starts serving. Topics are not created here (run and `topics create` do that).
absl::StatusOr<std::unique_ptr<RunningCollector>> StartCollector(const CollectorCommandOptions& options);

int CollectorCommand(const std::vector<std::string>& args);  // tessera collector

}  // namespace tessera::app
