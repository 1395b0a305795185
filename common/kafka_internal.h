// Shared by the two librdkafka adapters (kafka.cc, kafka_async.cc) and nothing else.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/kafka.h"

namespace tessera::kafka_internal {

// A librdkafka configuration from name=value pairs; InvalidArgument names the bad one.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(const KafkaConfig& settings);

// librdkafka headers for a record (nullptr when there are none). Owned by the caller until a
// produce call succeeds, which hands them to librdkafka.
rd_kafka_headers_t* MakeHeaders(const std::vector<KafkaHeader>& headers);

// What every Tessera producer starts from: idempotent, acks=all, lz4, bounded delivery time.
KafkaConfig IdempotentProducerSettings(const std::string& brokers);

// A producer's topic handles by name, each made on first use and kept until DestroyAll (which the
// producer calls before rd_kafka_destroy). Naming the topic in each rd_kafka_producev copies the
// name and looks its handle up under librdkafka's lock, for every record. Thread-safe.
class TopicHandles {
 public:
  // InvalidArgument ("topic NAME: reason") if librdkafka refuses the name.
  absl::StatusOr<rd_kafka_topic_t*> Find(rd_kafka_t* rk, std::string_view name);
  void DestroyAll();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, rd_kafka_topic_t*> handles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::kafka_internal
