// Shared by the two librdkafka adapters (kafka.cc, kafka_async.cc) and nothing else.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kafka.h"

namespace tessera::kafka_internal {

// A librdkafka configuration from name=value pairs; InvalidArgument names the bad one.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(const KafkaConfig& settings);

// librdkafka headers for a record (nullptr when there are none). Owned by the caller until a
// produce call succeeds, which hands them to librdkafka.
rd_kafka_headers_t* MakeHeaders(const std::vector<KafkaHeader>& headers);

// What every Tessera producer starts from: idempotent, acks=all, lz4, bounded delivery time.
KafkaConfig IdempotentProducerSettings(const std::string& brokers);

}  // namespace tessera::kafka_internal
