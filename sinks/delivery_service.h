// DeliveryService: every configured destination's DestinationWorker, each on its own thread.
// `tessera sinks deliver` runs one; `tessera run` can hold one beside the pipeline (the same
// brokers and data dir). Creating the dead-letter and Kafka-destination topics is the caller's job
// (CreateSinkTopics) because the mock cluster of --embedded has no admin API.
//
// Thread-safety: Start/Stop from one thread; counters() from any.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kafka.h"
#include "sinks/delivery_worker.h"
#include "sinks/sink_config.h"

namespace tessera::sinks {

class DeliveryService {
 public:
  static absl::StatusOr<std::unique_ptr<DeliveryService>> Start(const std::vector<DestinationConfig>& destinations,
                                                                const WorkerOptions& options);
  ~DeliveryService();  // stops

  // Asks every worker to stop, waits for them; the first worker error, if any.
  absl::Status Stop();
  std::vector<std::pair<std::string, SinkCounters>> counters() const;

 private:
  DeliveryService() = default;
  std::vector<std::unique_ptr<DestinationWorker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<absl::Status> results_;
  bool stopped_ = false;
};

// The topics sinks write: each destination's dead-letter topic and the Kafka destinations' topics.
std::vector<TopicSpec> SinkTopicSpecs(const std::vector<DestinationConfig>& destinations, const std::string& prefix,
                                      int partitions);

}  // namespace tessera::sinks
