// The collector over real sockets (127.0.0.1, an ephemeral port, keep-alive) in front of
// librdkafka's mock cluster: a request is answered 200 only once its records are in Kafka; CORS
// and preflight; gzip; errors through HTTP; 503 with Retry-After when Kafka cannot take the records.
#include "ingest/collector/collector_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "tests/ingest/collector/gzip_for_tests.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <future>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/kafka.h"
#include "common/kafka_async.h"
#include "simdjson.h"

namespace tessera::collector {
namespace {

constexpr char kKey[] = "wk_server_test";
constexpr char kTopic[] = "t.raw.web";

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A minimal HTTP/1.1 client over one keep-alive connection (Content-Length bodies only, which is
// all evhttp sends for these answers).
class HttpClient {
 public:
  explicit HttpClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~HttpClient() { ::close(fd_); }
  bool connected() const { return connected_; }

  Response Send(std::string_view method, std::string_view path, std::string_view body,
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string request = absl::StrCat(AbslView(method), " ", AbslView(path), " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n\r\n", AbslView(body));
    for (size_t sent = 0; sent < request.size();) {
      ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return {};
      sent += static_cast<size_t>(n);
    }
    Response response;
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Read()) return response;
    }
    std::vector<std::string> lines = absl::StrSplit(buffer_.substr(0, header_end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &response.status)) return response;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    size_t length = 0;
    if (auto it = response.headers.find("content-length"); it != response.headers.end()) (void)absl::SimpleAtoi(it->second, &length);
    while (buffer_.size() < header_end + 4 + length) {
      if (!Read()) return response;
    }
    response.body = buffer_.substr(header_end + 4, length);
    buffer_.erase(0, header_end + 4 + length);
    return response;
  }

 private:
  bool Read() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string Basic(std::string_view key) { return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(AbslView(key), ":"))); }

using testing::Gzip;

std::string Reason(const Response& r) {
  simdjson::dom::parser parser;
  std::string_view reason;
  if (parser.parse(r.body).get_object()["reason"].get(reason) != simdjson::SUCCESS) return "<none: " + r.body + ">";
  return std::string(reason);
}

CollectorConfig TestConfig() {
  CollectorConfig config;
  config.sources_by_write_key[kKey] = SourceConfig{"shop", "web", v1::CHANNEL_WEB};
  config.rate_limit_per_second = 0;
  return config;
}

CollectorServerOptions ServerOptions() {
  CollectorServerOptions options;
  options.port = 0;
  options.raw_topics = {{v1::CHANNEL_WEB, kTopic}};
  options.unavailable_retry_after_s = 7;
  return options;
}

class CollectorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    ASSERT_TRUE(kafka_->CreateTopics({{kTopic, 2, {}}}).ok());
    AsyncKafkaProducer::Options producer_options;
    producer_options.brokers = kafka_->bootstrap_servers();
    auto producer = AsyncKafkaProducer::Create(producer_options);
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = *std::move(producer);
    auto server = CollectorServer::Start(ServerOptions(), TestConfig(), producer_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::vector<KafkaMessage> Records() {
    auto records = ReadTopicToEnd(kafka_->bootstrap_servers(), kTopic, absl::Seconds(20));
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<KafkaMessage>{};
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<AsyncKafkaProducer> producer_;
  std::unique_ptr<CollectorServer> server_;
};

TEST_F(CollectorServerTest, AnswersOnlyAfterKafkaHasEveryRecordOverOneKeepAliveConnection) {
  HttpClient client(server_->port());
  ASSERT_TRUE(client.connected());
  Response r = client.Send("POST", "/v1/track", R"({"userId":"u-1","event":"Signed Up","messageId":"m-1"})",
                           {{"Authorization", Basic(kKey)}, {"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"success":true})");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  // Right after the 200 the record is readable: the answer waited for the delivery report.
  std::vector<KafkaMessage> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "u-1");
  EXPECT_NE(records[0].payload.find(R"("messageId":"m-1")"), std::string::npos) << records[0].payload;
  EXPECT_NE(records[0].payload.find(R"("ip":"127.0.0.1")"), std::string::npos) << records[0].payload;
  EXPECT_NE(records[0].payload.find(R"("receivedAt":")"), std::string::npos);

  // Same connection: a gzipped batch through the browser library's short path.
  std::string batch = R"({"batch":[)";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&batch, i ? "," : "", R"({"type":"page","anonymousId":"a-)", i, R"(","name":"Home"})");
  batch += "]}";
  r = client.Send("POST", "/v1/b", Gzip(batch), {{"Authorization", Basic(kKey)}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Records().size(), 101u);
}

TEST_F(CollectorServerTest, CorsPreflightAndHeadersLetAnotherOriginPost) {
  HttpClient client(server_->port());
  Response pre = client.Send("OPTIONS", "/v1/t", "",
                             {{"Origin", "https://shop.example"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "authorization,content-type"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.headers["access-control-allow-origin"], "https://shop.example");
  EXPECT_NE(pre.headers["access-control-allow-headers"].find("authorization"), std::string::npos);
  EXPECT_NE(pre.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  Response post = client.Send("POST", "/v1/t", R"({"anonymousId":"a","event":"E","writeKey":"wk_server_test"})",
                              {{"Origin", "https://shop.example"}, {"Content-Type", "text/plain"}});
  EXPECT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(post.headers["access-control-allow-origin"], "https://shop.example");
  // Errors carry CORS too, so the page can read the reason.
  Response bad = client.Send("POST", "/v1/t", "{", {{"Origin", "https://shop.example"}, {"Authorization", Basic(kKey)}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.headers["access-control-allow-origin"], "https://shop.example");
}

TEST_F(CollectorServerTest, ErrorsOverHttpCarryStatusAndReason) {
  HttpClient client(server_->port());
  struct Case {
    std::string method, path, body;
    std::vector<std::pair<std::string, std::string>> headers;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/track", R"({"userId":"u","event":"E"})", {{"Authorization", Basic("wk_wrong")}}, 401, "unknown_write_key"},
      {"POST", "/v1/track", R"({"userId":"u","event":"E"})", {}, 401, "no_write_key"},
      {"POST", "/v1/nope", "{}", {{"Authorization", Basic(kKey)}}, 404, "not_found"},
      {"GET", "/v1/track", "", {}, 405, "method_not_allowed"},
      {"POST", "/v1/track", "x", {{"Authorization", Basic(kKey)}, {"Content-Encoding", "gzip"}}, 400, "bad_gzip"},
      {"POST", "/v1/batch", absl::StrCat(R"({"batch":[{"type":"track","userId":"u","event":")", std::string(600 * 1024, 'z'), "\"}]}"),
       {{"Authorization", Basic(kKey)}}, 413, "batch_too_large"},
  };
  for (const Case& c : cases) {
    Response r = client.Send(c.method, c.path, c.body, c.headers);
    EXPECT_EQ(r.status, c.status) << c.path << " " << r.body;
    EXPECT_EQ(Reason(r), c.reason) << c.path;
  }
  EXPECT_TRUE(Records().empty());
}

TEST_F(CollectorServerTest, ConcurrentRequestsEachWaitOnlyForTheirOwnRecords) {
  constexpr int kClients = 8, kRequests = 25;
  std::vector<std::future<int>> ok_counts;
  for (int c = 0; c < kClients; ++c) {
    ok_counts.push_back(std::async(std::launch::async, [port = server_->port(), c] {
      HttpClient client(port);
      int ok = 0;
      for (int i = 0; i < kRequests; ++i) {
        Response r = client.Send("POST", "/v1/batch",
                                 absl::StrCat(R"({"batch":[{"type":"track","userId":"u-)", c, R"(","event":"E","messageId":"m-)", c, "-", i,
                                              R"("},{"type":"identify","userId":"u-)", c, R"(","messageId":"i-)", c, "-", i, R"("}]})"),
                                 {{"Authorization", Basic(kKey)}});
        ok += r.status == 200;
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& f : ok_counts) ok += f.get();
  EXPECT_EQ(ok, kClients * kRequests);
  EXPECT_EQ(Records().size(), static_cast<size_t>(2 * kClients * kRequests));
}

TEST(CollectorServerUnavailableTest, KafkaUnreachableAnswers503WithRetryAfter) {
  AsyncKafkaProducer::Options producer_options;
  producer_options.brokers = "127.0.0.1:1";  // nothing listens there
  producer_options.delivery_timeout = absl::Seconds(1);
  auto producer = AsyncKafkaProducer::Create(producer_options);
  ASSERT_TRUE(producer.ok());
  auto server = CollectorServer::Start(ServerOptions(), TestConfig(), producer->get());
  ASSERT_TRUE(server.ok()) << server.status();
  HttpClient client((*server)->port());
  Response r = client.Send("POST", "/v1/track", R"({"userId":"u","event":"E"})", {{"Authorization", Basic(kKey)}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(Reason(r), "kafka_unavailable");
  EXPECT_EQ(r.headers["retry-after"], "7");
}

TEST(CollectorServerUnavailableTest, FullProducerQueueAnswers503AtOnce) {
  AsyncKafkaProducer::Options producer_options;
  producer_options.brokers = "127.0.0.1:1";
  producer_options.delivery_timeout = absl::Seconds(3);
  producer_options.extra = {{"queue.buffering.max.messages", "1"}};
  auto producer = AsyncKafkaProducer::Create(producer_options);
  ASSERT_TRUE(producer.ok());
  auto server = CollectorServer::Start(ServerOptions(), TestConfig(), producer->get());
  ASSERT_TRUE(server.ok());
  HttpClient client((*server)->port());
  const auto start = std::chrono::steady_clock::now();
  Response r = client.Send("POST", "/v1/batch",
                           R"({"batch":[{"type":"track","userId":"u","event":"E"},{"type":"track","userId":"v","event":"E"}]})",
                           {{"Authorization", Basic(kKey)}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "7");
  EXPECT_NE(r.body.find("queue full"), std::string::npos) << r.body;
  // It still waited for the record it did enqueue (it must not answer before that report) — at most the timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace tessera::collector
