#include "ingest/collector/collector_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/utf8.h"

namespace tessera::collector {

struct CollectorServer::Loop {
  CollectorServer* server = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
};

namespace {

std::string_view Header(evhttp_request* request, const char* name) {
  const char* value = evhttp_find_header(evhttp_request_get_input_headers(request), name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

void AddCorsHeaders(evkeyvalq* out, const std::string& origin) {
  // Echo the page's origin (a wildcard is not allowed with credentials), so any site may post.
  evhttp_add_header(out, "Access-Control-Allow-Origin", origin.empty() ? "*" : origin.c_str());
  evhttp_add_header(out, "Vary", "Origin");
}

void SendReply(evhttp_request* request, const HttpReply& reply, const std::string& origin) {
  evkeyvalq* out = evhttp_request_get_output_headers(request);
  evhttp_add_header(out, "Content-Type", "application/json");
  AddCorsHeaders(out, origin);
  for (const auto& [name, value] : reply.headers) evhttp_add_header(out, name.c_str(), value.c_str());
  evbuffer* body = evbuffer_new();
  evbuffer_add(body, reply.body.data(), reply.body.size());
  evhttp_send_reply(request, reply.status, nullptr, body);
  evbuffer_free(body);
}

}  // namespace

// One request waiting for its records' delivery reports. Reports arrive on the producer's thread;
// the last one wakes the request's event loop, which answers and deletes this. It owns the records
// and their bytes: librdkafka reads their values in place (ValueBuffer::kBorrow) until it reports each.
class PendingRequest : public DeliveryReceiver {
 public:
  PendingRequest(CollectorServer* server, event_base* base, evhttp_request* request, HttpReply reply,
                 std::string origin, std::vector<OutgoingRecord> records, RecordBytes bytes)
      : server_(server),
        request_(request),
        reply_(std::move(reply)),
        origin_(std::move(origin)),
        bytes_(std::move(bytes)),
        records_(std::move(records)),
        remaining_(static_cast<int64_t>(records_.size()) + 1) {
    done_ = event_new(base, -1, 0, &PendingRequest::OnDone, this);
  }

  const std::vector<OutgoingRecord>& records() const { return records_; }

  void OnDelivery(const absl::Status& status) override {
    if (!status.ok()) Fail(status);
    Release(1);
  }

  void Fail(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (error_.ok()) error_ = status;
  }

  // Drops `count` expected reports (the +1 guard, or records that were never enqueued).
  void Release(int64_t count) {
    if (remaining_.fetch_sub(count, std::memory_order_acq_rel) == count) event_active(done_, EV_TIMEOUT, 1);
  }

 private:
  static void OnDone(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<PendingRequest*>(arg);
    absl::Status error;
    {
      absl::MutexLock lock(&self->mu_);
      error = self->error_;
    }
    if (error.ok()) {
      SendReply(self->request_, self->reply_, self->origin_);
    } else {
      LogWarning(absl::StrCat("collector: answering 503: ", error.message()));
      HttpReply reply = ErrorReply(503, kReasonKafkaUnavailable, StdView(error.message()));
      reply.headers = {{"Retry-After", std::to_string(self->server_->options_.unavailable_retry_after_s)}};
      SendReply(self->request_, reply, self->origin_);
    }
    event_free(self->done_);
    self->server_->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    delete self;
  }

  CollectorServer* const server_;
  evhttp_request* const request_;
  const HttpReply reply_;
  const std::string origin_;
  const RecordBytes bytes_;  // what records_ view
  const std::vector<OutgoingRecord> records_;
  event* done_ = nullptr;
  std::atomic<int64_t> remaining_;
  absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<int> ListenSocket(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--http ", host, ":", port, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      freeaddrinfo(found);
      return fd;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(found);
  return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", last_error));
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

absl::Status ParseHostPort(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(AbslView(std::string_view(text).substr(colon + 1)), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http needs HOST:PORT, got '", text, "'"));
  }
  *host = text.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return absl::OkStatus();
}

CollectorServer::CollectorServer(CollectorServerOptions options, CollectorConfig config, AsyncKafkaProducer* producer)
    : options_(std::move(options)), api_(std::move(config), options_.limits), producer_(producer) {}

absl::StatusOr<std::unique_ptr<CollectorServer>> CollectorServer::Start(CollectorServerOptions options,
                                                                        CollectorConfig config,
                                                                        AsyncKafkaProducer* producer) {
  static std::once_flag threads_enabled;
  std::call_once(threads_enabled, [] { evthread_use_pthreads(); });  // lets delivery threads wake a loop
  const int loops = std::max(1, options.io_threads);
  std::unique_ptr<CollectorServer> server(new CollectorServer(std::move(options), std::move(config), producer));
  if (producer != nullptr) {  // null: a server that only answers (the query API's tests)
    for (const auto& [channel, name] : server->options_.raw_topics) {
      absl::StatusOr<AsyncKafkaProducer::Topic> topic = producer->FindTopic(name);
      if (!topic.ok()) return topic.status();
      server->raw_topics_.emplace(channel, *topic);
    }
  }
  int port = server->options_.port;
  for (int i = 0; i < loops; ++i) {
    absl::StatusOr<int> fd = ListenSocket(server->options_.host, port);
    if (!fd.ok()) return fd.status();
    if (i == 0) port = BoundPort(*fd);  // the others share the (possibly ephemeral) port
    auto loop = std::make_unique<Loop>();
    loop->server = server.get();
    loop->base = event_base_new();
    loop->http = evhttp_new(loop->base);
    if (loop->base == nullptr || loop->http == nullptr) return absl::InternalError("libevent: cannot create an event loop");
    evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_HEAD);
    // Our own 413 (with a JSON reason) covers the documented limits; this only stops absurd bodies.
    evhttp_set_max_body_size(loop->http, 8 * 1024 * 1024);
    evhttp_set_max_headers_size(loop->http, 64 * 1024);
    evhttp_set_timeout(loop->http, 120);
    evhttp_set_gencb(loop->http, &CollectorServer::OnRequest, loop.get());
    if (evhttp_accept_socket_with_handle(loop->http, *fd) == nullptr) {
      ::close(*fd);
      return absl::InternalError("libevent: cannot accept on the listening socket");
    }
    server->loops_.push_back(std::move(loop));
  }
  server->port_ = port;
  for (auto& loop : server->loops_) {
    server->threads_.emplace_back([base = loop->base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  }
  return server;
}

CollectorServer::~CollectorServer() { Stop(); }

void CollectorServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  while (in_flight_.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  const bool drained = in_flight_.load() == 0;
  for (auto& loop : loops_) event_base_loopbreak(loop->base);
  for (auto& thread : threads_) thread.join();
  if (!drained) {
    // A delivery report may still wake these loops: leave them allocated (the process is ending).
    LogError(absl::StrCat("collector: ", in_flight_.load(), " requests still wait for Kafka at shutdown"));
    for (auto& loop : loops_) (void)loop.release();  // deliberately leaked, see above
    return;
  }
  for (auto& loop : loops_) {
    evhttp_free(loop->http);
    event_base_free(loop->base);
  }
  loops_.clear();
}

void CollectorServer::OnRequest(evhttp_request* request, void* loop) {
  auto* l = static_cast<Loop*>(loop);
  l->server->Handle(l, request);
}

void CollectorServer::Handle(Loop* loop, evhttp_request* request) {
  const int64_t received_at_ms = absl::ToUnixMillis(absl::Now());
  const std::string origin(Header(request, "Origin"));
  const std::string_view path(evhttp_request_get_uri(request));
  const evhttp_cmd_type method = evhttp_request_get_command(request);
  if (method == EVHTTP_REQ_GET && (path == "/health" || path == "/v1/health")) {
    SendReply(request, HttpReply{200, R"({"ok":true})", {}}, origin);
    return;
  }
  const std::optional<Endpoint> endpoint = EndpointFromPath(path);
  if (!endpoint && options_.other_routes && options_.other_routes(request)) return;
  if (!endpoint) {
    SendReply(request, ErrorReply(404, kReasonNotFound, absl::StrCat("no endpoint ", AbslView(Utf8Prefix(path, 200)))), origin);
    return;
  }
  if (method == EVHTTP_REQ_OPTIONS) {  // CORS preflight
    evkeyvalq* out = evhttp_request_get_output_headers(request);
    AddCorsHeaders(out, origin);
    evhttp_add_header(out, "Access-Control-Allow-Methods", "POST, OPTIONS");
    const std::string_view asked = Header(request, "Access-Control-Request-Headers");
    const std::string allowed = asked.empty() ? "Authorization, Content-Type, Content-Encoding" : std::string(asked);
    evhttp_add_header(out, "Access-Control-Allow-Headers", allowed.c_str());
    evhttp_add_header(out, "Access-Control-Max-Age", "86400");
    evhttp_send_reply(request, 204, nullptr, nullptr);
    return;
  }
  if (method != EVHTTP_REQ_POST) {
    HttpReply reply = ErrorReply(405, "method_not_allowed", "the tracking API takes POST");
    reply.headers = {{"Allow", "POST, OPTIONS"}};
    SendReply(request, reply, origin);
    return;
  }
  evbuffer* input = evhttp_request_get_input_buffer(request);
  const size_t length = evbuffer_get_length(input);
  // Padding after the body, made contiguous with it, lets simdjson parse it in place rather than
  // copy it into a padded buffer of its own (HttpRequestView::body_padded).
  static constexpr char kPadding[kBodyPadding] = {};
  const bool padded = length > 0 && evbuffer_add(input, kPadding, sizeof(kPadding)) == 0;
  const char* data = length == 0 ? "" : reinterpret_cast<const char*>(evbuffer_pullup(input, -1));
  char* peer_address = nullptr;
  ev_uint16_t peer_port = 0;
  evhttp_connection_get_peer(evhttp_request_get_connection(request), &peer_address, &peer_port);
  HttpRequestView view{path,
                       Header(request, "Authorization"),
                       Header(request, "Content-Encoding"),
                       std::string_view(data, length),
                       peer_address == nullptr ? std::string_view() : std::string_view(peer_address),
                       Header(request, "X-Forwarded-For"),
                       padded};
  PreparedRequest prepared = api_.Prepare(*endpoint, view, received_at_ms);
  if (prepared.records.empty()) {
    SendReply(request, prepared.reply, origin);
    return;
  }
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  auto* pending = new PendingRequest(this, loop->base, request, std::move(prepared.reply), origin,
                                     std::move(prepared.records), std::move(prepared.bytes));
  // `pending` outlives this loop: the +1 guard is released after it.
  const std::vector<OutgoingRecord>& records = pending->records();
  int64_t unsent = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const OutgoingRecord& record = records[i];
    auto topic = raw_topics_.find(record.channel);
    absl::Status status = topic == raw_topics_.end()
                              ? absl::FailedPreconditionError("no raw topic configured for this source's channel")
                              : producer_->Produce(topic->second, record.key, record.value, prepared.headers, pending,
                                                   KafkaProducer::ValueBuffer::kBorrow);
    if (!status.ok()) {
      pending->Fail(status);
      unsent = static_cast<int64_t>(records.size() - i);
      break;
    }
  }
  pending->Release(unsent + 1);
}

}  // namespace tessera::collector
