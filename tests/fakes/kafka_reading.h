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

// Polls until `count` records arrived or `patience` passed; the records in order of arrival, or
// the poll's error. Fewer than `count` means they did not come: the caller asserts. The patience
// is a deadline, not a number of polls: a poll returns as soon as it holds a few records, so a
// slow consumer (a sanitizer build) may need many more polls than a fast one for the same topic.
// A subscribed consumer that has read a record is a member of its group, with its partitions.
inline absl::StatusOr<std::vector<KafkaMessage>> ReadRecords(KafkaConsumer& consumer, size_t count,
                                                              absl::Duration patience = absl::Seconds(20)) {
  std::vector<KafkaMessage> read;
  const absl::Time deadline = absl::Now() + patience;
  while (read.size() < count && absl::Now() < deadline) {
    absl::StatusOr<std::vector<KafkaMessage>> polled = consumer.PollBatch(count - read.size(), absl::Milliseconds(200));
    if (!polled.ok()) return polled.status();
    for (KafkaMessage& m : *polled) read.push_back(std::move(m));
  }
  return read;
}

}  // namespace tessera
