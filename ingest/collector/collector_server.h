// The collector's HTTP/1.1 server (libevent's evhttp, keep-alive): CORS and preflight, the Segment
// endpoints of segment_api.h, and the answer only after Kafka acknowledged every record of the
// request. Each request waits for its own records' delivery reports (AsyncKafkaProducer), so a
// slow request never holds up another.
//
// Threads: `io_threads` event loops, each with its own listening socket on the same port
// (SO_REUSEPORT: the kernel spreads connections), each parsing and answering its own connections.
// Delivery reports arrive on the producer's thread and wake the request's loop.
//
// Ownership: the server borrows the producer, which must outlive it. Stop() (or the destructor)
// stops accepting, waits for requests in flight to be answered, then joins the loops.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka_async.h"
#include "ingest/collector/segment_api.h"

struct evhttp_request;

namespace tessera::collector {

struct CollectorServerOptions {
  std::string host = "127.0.0.1";
  int port = 8088;  // 0: an ephemeral port (see port())
  int io_threads = 2;
  std::map<v1::Channel, std::string> raw_topics;  // channel -> raw topic name
  Limits limits;
  // Retry-After (seconds) when Kafka is unavailable or the producer's queue is full.
  int unavailable_retry_after_s = 5;
  absl::Duration drain_timeout = absl::Seconds(15);
  // Optional: offered every request whose path the collector does not serve, on the request's
  // loop thread; returns true if it answered (`tessera run --http` mounts the query API here).
  // Must outlive the server and be thread-safe.
  std::function<bool(evhttp_request*)> other_routes;
};

// Splits "HOST:PORT" ("127.0.0.1:8088", "[::1]:8088", ":8088" = all interfaces).
absl::Status ParseHostPort(const std::string& text, std::string* host, int* port);

// A non-blocking listening socket on HOST:PORT with SO_REUSEPORT, so several event loops can each
// listen on the same port and the kernel spreads connections (the collector and the query API).
absl::StatusOr<int> ListenSocket(const std::string& host, int port);
// The port a listening socket is bound to (for port 0: the ephemeral one); 0 on error.
int BoundPort(int fd);

class CollectorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CollectorServer>> Start(CollectorServerOptions options,
                                                                CollectorConfig config,
                                                                AsyncKafkaProducer* producer);
  ~CollectorServer();

  int port() const { return port_; }
  void Stop();

  struct Loop;

 private:
  CollectorServer(CollectorServerOptions options, CollectorConfig config, AsyncKafkaProducer* producer);
  static void OnRequest(evhttp_request* request, void* loop);
  void Handle(Loop* loop, evhttp_request* request);

  const CollectorServerOptions options_;
  SegmentApi api_;
  AsyncKafkaProducer* const producer_;
  std::map<v1::Channel, AsyncKafkaProducer::Topic> raw_topics_;  // options_.raw_topics' handles
  int port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> in_flight_{0};
  bool stopped_ = false;

  friend class PendingRequest;
};

}  // namespace tessera::collector
