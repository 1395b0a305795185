// The query API (query_api.h) over HTTP/1.1 with libevent's evhttp, keep-alive: `io_threads`
// event loops, each with its own listening socket on the same port (SO_REUSEPORT: the kernel
// spreads connections), each answering its own connections. Requests are answered synchronously
// on the loop's thread: they are RocksDB point reads and short scans.
//
// AnswerQueryRequest serves one evhttp request with a QueryApi; the collector's server uses it to
// mount the API on its own address (`tessera run --http`).
//
// Ownership: the server borrows the QueryApi, which must outlive it. Stop() (or the destructor)
// stops the loops and joins them. Start/Stop from one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "profiles/query/query_api.h"

struct evhttp_request;

namespace tessera::query {

struct QueryServerOptions {
  std::string host = "127.0.0.1";
  int port = 8089;  // 0: an ephemeral port (see port())
  int io_threads = 2;
};

// Answers `request` with `api` (any method, any path; the API answers 404 for what it does not
// serve).
void AnswerQueryRequest(const QueryApi& api, evhttp_request* request);

// A handler for CollectorServerOptions::other_routes: answers the API's paths (IsQueryPath) with
// `api`, which must outlive the collector, and declines the rest.
std::function<bool(evhttp_request*)> QueryRoutes(const QueryApi* api);

class QueryServer {
 public:
  static absl::StatusOr<std::unique_ptr<QueryServer>> Start(QueryServerOptions options, const QueryApi* api);
  ~QueryServer();
  QueryServer(const QueryServer&) = delete;
  QueryServer& operator=(const QueryServer&) = delete;

  int port() const { return port_; }
  void Stop();

  struct Loop;

 private:
  explicit QueryServer(const QueryApi* api);

  const QueryApi* const api_;
  int port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace tessera::query
