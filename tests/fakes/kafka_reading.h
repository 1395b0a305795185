// Reading a topic in a test: poll a consumer until it has seen a number of records or gives up.
// Header-only: the tests that use it link librdkafka already (tessera_kafka).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka.h"

namespace tessera {

// Polls until `count` records arrived or `attempts` polls of 200 ms passed; the records in order
// of arrival, or the poll's error. Fewer than `count` means they did not come: the caller asserts.
// A subscribed consumer that has read a record is a member of its group, with its partitions.
inline absl::StatusOr<std::vector<KafkaMessage>> ReadRecords(KafkaConsumer& consumer, size_t count,
                                                              int attempts = 100) {
  std::vector<KafkaMessage> read;
  for (int i = 0; i < attempts && read.size() < count; ++i) {
    absl::StatusOr<std::vector<KafkaMessage>> polled = consumer.PollBatch(count - read.size(), absl::Milliseconds(200));
    if (!polled.ok()) return polled.status();
    for (KafkaMessage& m : *polled) read.push_back(std::move(m));
  }
  return read;
}

}  // namespace tessera
