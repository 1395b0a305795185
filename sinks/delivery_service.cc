#include "sinks/delivery_service.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tessera::sinks {

absl::StatusOr<std::unique_ptr<DeliveryService>> DeliveryService::Start(
    const std::vector<DestinationConfig>& destinations, const WorkerOptions& options) {
  std::unique_ptr<DeliveryService> service(new DeliveryService());
  for (const DestinationConfig& d : destinations) {
    absl::StatusOr<std::unique_ptr<DestinationWorker>> worker = DestinationWorker::Create(d, options);
    if (!worker.ok()) return worker.status();
    service->workers_.push_back(*std::move(worker));
  }
  service->results_.resize(service->workers_.size());
  for (size_t i = 0; i < service->workers_.size(); ++i) {
    DeliveryService* self = service.get();
    service->threads_.emplace_back([self, i] {
      self->results_[i] = self->workers_[i]->Run();
      if (!self->results_[i].ok()) {
        LogError(absl::StrCat("sink ", self->workers_[i]->destination().name, " stopped: ",
                              self->results_[i].ToString()));
      }
    });
  }
  return service;
}

DeliveryService::~DeliveryService() { Stop().IgnoreError(); }

absl::Status DeliveryService::Stop() {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  for (auto& worker : workers_) worker->RequestStop();
  for (auto& thread : threads_) thread.join();
  for (const absl::Status& status : results_) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, SinkCounters>> DeliveryService::counters() const {
  std::vector<std::pair<std::string, SinkCounters>> out;
  for (const auto& worker : workers_) out.emplace_back(worker->destination().name, worker->counters());
  return out;
}

std::vector<TopicSpec> SinkTopicSpecs(const std::vector<DestinationConfig>& destinations, const std::string& prefix,
                                      int partitions) {
  std::vector<TopicSpec> specs;
  for (const DestinationConfig& d : destinations) {
    specs.push_back(TopicSpec{DeadLetterTopic(d, prefix), partitions, {}});
    if (d.type == DestinationType::kKafka) {
      // Keyed by profile id and carrying the whole (filtered) profile: compaction keeps the latest.
      specs.push_back(TopicSpec{d.topic, partitions, {{"cleanup.policy", "compact"}}});
    }
  }
  return specs;
}

}  // namespace tessera::sinks
