#include "profiles/query/query_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "ingest/collector/collector_server.h"

namespace tessera::query {

struct QueryServer::Loop {
  const QueryApi* api = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
};

namespace {

std::string_view MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
  }
}

void OnRequest(evhttp_request* request, void* arg) {
  AnswerQueryRequest(*static_cast<QueryServer::Loop*>(arg)->api, request);
}

}  // namespace

void AnswerQueryRequest(const QueryApi& api, evhttp_request* request) {
  const char* authorization = evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
  // The body (a search's filter) is bounded by evhttp_set_max_body_size.
  evbuffer* input = evhttp_request_get_input_buffer(request);
  std::string request_body(evbuffer_get_length(input), '\0');
  if (!request_body.empty()) evbuffer_copyout(input, request_body.data(), request_body.size());
  const QueryRequest query{MethodName(evhttp_request_get_command(request)), evhttp_request_get_uri(request),
                           authorization == nullptr ? std::string_view() : std::string_view(authorization), request_body};
  const QueryResponse response = api.Handle(query);
  evkeyvalq* out = evhttp_request_get_output_headers(request);
  evhttp_add_header(out, "Content-Type", "application/json");
  for (const auto& [name, value] : response.headers) evhttp_add_header(out, name.c_str(), value.c_str());
  evbuffer* body = evbuffer_new();
  evbuffer_add(body, response.body.data(), response.body.size());
  evbuffer_add(body, "\n", 1);
  evhttp_send_reply(request, response.status, nullptr, body);
  evbuffer_free(body);
}

std::function<bool(evhttp_request*)> QueryRoutes(const QueryApi* api) {
  return [api](evhttp_request* request) {
    if (!IsQueryPath(evhttp_request_get_uri(request))) return false;
    AnswerQueryRequest(*api, request);
    return true;
  };
}

absl::StatusOr<std::unique_ptr<QueryServer>> QueryServer::Start(QueryServerOptions options, const QueryApi* api) {
  static std::once_flag threads_enabled;
  std::call_once(threads_enabled, [] { evthread_use_pthreads(); });
  std::unique_ptr<QueryServer> server(new QueryServer(api));
  int port = options.port;
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    absl::StatusOr<int> fd = collector::ListenSocket(options.host, port);
    if (!fd.ok()) return fd.status();
    if (i == 0) port = collector::BoundPort(*fd);  // the others share the (possibly ephemeral) port
    auto loop = std::make_unique<Loop>();
    loop->api = api;
    loop->base = event_base_new();
    loop->http = loop->base == nullptr ? nullptr : evhttp_new(loop->base);
    if (loop->http == nullptr) {
      ::close(*fd);
      if (loop->base != nullptr) event_base_free(loop->base);
      return absl::InternalError("libevent: cannot create an event loop");
    }
    evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                               EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(loop->http, 1024 * 1024);
    evhttp_set_max_headers_size(loop->http, 64 * 1024);
    evhttp_set_timeout(loop->http, 120);
    evhttp_set_gencb(loop->http, &OnRequest, loop.get());
    // Owned from here: freed by Stop() (evhttp_free closes the bound socket).
    server->loops_.push_back(std::move(loop));
    if (evhttp_accept_socket_with_handle(server->loops_.back()->http, *fd) == nullptr) {
      ::close(*fd);
      return absl::InternalError("libevent: cannot accept on the listening socket");
    }
  }
  server->port_ = port;
  for (auto& loop : server->loops_) {
    server->threads_.emplace_back([base = loop->base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  }
  return server;
}

QueryServer::QueryServer(const QueryApi* api) : api_(api) {}

QueryServer::~QueryServer() { Stop(); }

void QueryServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& loop : loops_) event_base_loopbreak(loop->base);
  for (auto& thread : threads_) thread.join();
  for (auto& loop : loops_) {
    evhttp_free(loop->http);
    event_base_free(loop->base);
  }
  loops_.clear();
}

}  // namespace tessera::query
