// Webhook destinations end to end inside one process: librdkafka's mock cluster (EmbeddedKafka) as
// the broker, the real DestinationWorker, and a real HTTP receiver process (webhook_receiver.py)
// that fails on purpose. Issue 7's acceptance: afterwards every change the receiver acknowledged
// was acknowledged once per idempotency key, in version order per profile, ending at each
// profile's newest version, with every signature valid; consent is enforced; a dead neighbour
// does not slow a healthy destination.
//
// TESSERA_SINKS_OUTAGE_S sets the receiver's outage (default 3 s; the manual run uses 30).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "simdjson.h"
#include "sinks/delivery_service.h"
#include "sinks/replay.h"
#include "tests/integration/webhook_harness.h"

namespace tessera {
namespace {

using testing::AckedByProfile;
using testing::MakeUpdate;
using testing::ProduceUpdates;
using testing::ReceiverState;
using testing::WebhookReceiver;

constexpr char kPrefix[] = "t.";
constexpr char kTopic[] = "t.profile-updates";
constexpr char kSecret[] = "whsec_test_0123456789";

class WebhookDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            absl::StrCat("tessera-sinks-", getpid(), "-", ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    ASSERT_TRUE(kafka_->CreateTopics({{kTopic, 4, {}}}).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  sinks::DestinationConfig Webhook(const std::string& name, const std::string& url) {
    sinks::DestinationConfig d;
    d.name = name;
    d.type = sinks::DestinationType::kWebhook;
    d.url = url;
    d.secret = kSecret;
    d.batch_max_size = 20;
    d.batch_max_wait_ms = 20;
    d.timeout_ms = 700;
    d.retry = {.max_window_ms = 300'000, .base_ms = 50, .max_ms = 1000};
    return d;
  }

  sinks::WorkerOptions Options() {
    sinks::WorkerOptions o;
    o.brokers = kafka_->bootstrap_servers();
    o.topic_prefix = kPrefix;
    o.data_dir = dir_;
    o.commit_interval = absl::Milliseconds(200);
    return o;
  }

  std::unique_ptr<sinks::DeliveryService> Start(const std::vector<sinks::DestinationConfig>& destinations) {
    std::vector<TopicSpec> specs = sinks::SinkTopicSpecs(destinations, kPrefix, 1);
    EXPECT_TRUE(kafka_->CreateTopics(specs).ok());
    auto service = sinks::DeliveryService::Start(destinations, Options());
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? *std::move(service) : nullptr;
  }

  // Waits until `done(state)` or the deadline; returns the last state.
  template <typename Done>
  ReceiverState WaitFor(const WebhookReceiver& receiver, Done done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    ReceiverState state = receiver.State();
    while (!done(state) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      state = receiver.State();
    }
    return state;
  }

  std::string dir_;
  std::unique_ptr<EmbeddedKafka> kafka_;
};

// Every profile's newest version acked; no key acked twice; versions increase per profile.
void ExpectExactlyOnceInOrder(const ReceiverState& state, const std::map<uint64_t, uint64_t>& newest) {
  EXPECT_EQ(state.bad_signatures, 0);
  std::set<std::string> acked_keys;
  for (const auto& r : state.receipts) {
    if (r.acked) {
      EXPECT_TRUE(acked_keys.insert(r.key).second) << "acked twice: " << r.key;
    }
  }
  const auto by_profile = AckedByProfile(state);
  for (const auto& [id, version] : newest) {
    auto it = by_profile.find(absl::StrCat(id));
    ASSERT_NE(it, by_profile.end()) << "profile " << id << " never delivered";
    int64_t previous = 0;
    for (const auto& r : it->second) {
      EXPECT_GT(r.version, previous) << "profile " << id << " out of order";
      previous = r.version;
    }
    EXPECT_EQ(previous, static_cast<int64_t>(version)) << "profile " << id << " did not end at its newest version";
  }
}

bool AllNewestAcked(const ReceiverState& state, const std::map<uint64_t, uint64_t>& newest) {
  const auto by_profile = AckedByProfile(state);
  for (const auto& [id, version] : newest) {
    auto it = by_profile.find(absl::StrCat(id));
    if (it == by_profile.end() || it->second.back().version != static_cast<int64_t>(version)) return false;
  }
  return true;
}

TEST_F(WebhookDeliveryTest, EveryChangeOnceInOrderThrough500s429sTimeoutsAndAnOutage) {
  const char* outage_env = std::getenv("TESSERA_SINKS_OUTAGE_S");
  const std::string outage_s = outage_env != nullptr ? outage_env : "3";
  WebhookReceiver receiver(dir_, "flaky", kSecret,
                           {"--seed", "7", "--p500", "0.1", "--p429", "0.05", "--retry-after", "1", "--ptimeout",
                            "0.03", "--timeout-s", "1.5", "--outage-after", "5", "--outage-s", outage_s});
  auto service = Start({Webhook("crm", receiver.url())});
  ASSERT_NE(service, nullptr);
  // Waves, so some versions of a profile are sent and others coalesce behind a pending one.
  constexpr int kProfiles = 150, kVersions = 6;
  std::map<uint64_t, uint64_t> newest;
  for (int version = 1; version <= kVersions; ++version) {
    std::vector<v1::ProfileUpdate> wave;
    for (uint64_t id = 1; id <= kProfiles; ++id) {
      wave.push_back(MakeUpdate(id, version, {}));
      newest[id] = version;
    }
    ProduceUpdates(kafka_->bootstrap_servers(), kTopic, wave);
    if (version == 1) {  // the group has joined and delivers before the next waves
      WaitFor(receiver, [](const ReceiverState& s) { return !s.receipts.empty(); }, std::chrono::seconds(30));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const ReceiverState state =
      WaitFor(receiver, [&](const ReceiverState& s) { return AllNewestAcked(s, newest); }, std::chrono::seconds(180));
  ExpectExactlyOnceInOrder(state, newest);
  EXPECT_GT(state.injected.at("500"), 0);
  EXPECT_GT(state.injected.at("429"), 0);
  EXPECT_GT(state.injected.at("timeout"), 0);
  EXPECT_GT(state.injected.at("outage"), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a commit interval or two
  auto counters = service->counters();
  ASSERT_TRUE(service->Stop().ok());
  ASSERT_EQ(counters.size(), 1u);
  EXPECT_EQ(counters[0].second.dead_lettered, 0);
  EXPECT_EQ(counters[0].second.pending, 0);
  int64_t acked = 0;
  for (const auto& r : state.receipts) acked += r.acked ? 1 : 0;
  EXPECT_EQ(counters[0].second.delivered, acked);
  // Everything delivered is committed: a restart would start at the end.
  auto lag = ReadGroupLag(kafka_->bootstrap_servers(), "t.sink.crm", {kTopic});
  ASSERT_TRUE(lag.ok()) << lag.status();
  for (const auto& p : *lag) EXPECT_EQ(p.lag(), 0) << p.topic << "[" << p.partition << "]";
  std::printf("receiver: %zu receipts, %lld requests, injected 500=%lld 429=%lld timeout=%lld outage=%lld\n",
              state.receipts.size(), static_cast<long long>(state.requests),
              static_cast<long long>(state.injected.at("500")), static_cast<long long>(state.injected.at("429")),
              static_cast<long long>(state.injected.at("timeout")), static_cast<long long>(state.injected.at("outage")));
}

TEST_F(WebhookDeliveryTest, AfterTheRetryWindowChangesAreDeadLetteredAndReplayed) {
  WebhookReceiver failing(dir_, "failing", kSecret, {"--p500", "1.0"});
  sinks::DestinationConfig d = Webhook("crm", failing.url());
  d.retry = {.max_window_ms = 800, .base_ms = 50, .max_ms = 200};
  auto service = Start({d});
  ASSERT_NE(service, nullptr);
  std::vector<v1::ProfileUpdate> updates;
  for (uint64_t id = 1; id <= 30; ++id) updates.push_back(MakeUpdate(id, 1, {}));
  ProduceUpdates(kafka_->bootstrap_servers(), kTopic, updates);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (service->counters()[0].second.dead_lettered < 30 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(service->counters()[0].second.dead_lettered, 30);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(service->Stop().ok());

  auto parked = ReadTopicToEnd(kafka_->bootstrap_servers(), "t.sink.crm.dlq", absl::Seconds(20));
  ASSERT_TRUE(parked.ok()) << parked.status();
  ASSERT_EQ(parked->size(), 30u);
  simdjson::dom::parser parser;
  simdjson::dom::element first = parser.parse((*parked)[0].payload);
  EXPECT_NE(std::string_view(first["error"]).find("HTTP 500"), std::string_view::npos);
  EXPECT_EQ(std::string_view(first["item"]["type"]), "profile");

  WebhookReceiver healthy(dir_, "healthy", kSecret, {});
  d.url = healthy.url();
  auto replayed = sinks::ReplayDeadLetters(d, kafka_->bootstrap_servers(), kPrefix);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(*replayed, 30);
  std::map<uint64_t, uint64_t> newest;
  for (uint64_t id = 1; id <= 30; ++id) newest[id] = 1;
  ExpectExactlyOnceInOrder(healthy.State(), newest);
  // A second replay finds nothing new.
  auto again = sinks::ReplayDeadLetters(d, kafka_->bootstrap_servers(), kPrefix);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TEST_F(WebhookDeliveryTest, ConsentNoneSendsNothingWithdrawnSendsDeletionGrantedLaterSendsTheProfile) {
  WebhookReceiver receiver(dir_, "consent", kSecret, {});
  sinks::DestinationConfig d = Webhook("mail", receiver.url());
  d.purposes = {"email_marketing"};
  d.fields = {"id", "traits"};
  auto service = Start({d});
  ASSERT_NE(service, nullptr);
  const std::string brokers = kafka_->bootstrap_servers();
  // 1: never consents. 2: consents, then withdraws. 3: no consent, then grants. 4: other purpose only.
  ProduceUpdates(brokers, kTopic,
                 {MakeUpdate(1, 1, {}), MakeUpdate(2, 1, {{"email_marketing", true}}),
                  MakeUpdate(3, 1, {{"email_marketing", false}}), MakeUpdate(4, 1, {{"analytics", true}})});
  ReceiverState state = WaitFor(receiver, [](const ReceiverState& s) { return !s.receipts.empty(); },
                                std::chrono::seconds(20));
  ProduceUpdates(brokers, kTopic,
                 {MakeUpdate(1, 2, {}), MakeUpdate(2, 2, {{"email_marketing", false}}),
                  MakeUpdate(3, 2, {{"email_marketing", true}}), MakeUpdate(4, 2, {{"analytics", true}})});
  state = WaitFor(receiver, [](const ReceiverState& s) { return s.receipts.size() >= 3; }, std::chrono::seconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing else may arrive
  state = receiver.State();
  const auto by_profile = AckedByProfile(state);
  EXPECT_FALSE(by_profile.contains("1"));
  EXPECT_FALSE(by_profile.contains("4"));
  ASSERT_TRUE(by_profile.contains("2"));
  ASSERT_EQ(by_profile.at("2").size(), 2u);
  EXPECT_EQ(by_profile.at("2")[0].type, "profile");
  EXPECT_EQ(by_profile.at("2")[0].version, 1);
  EXPECT_EQ(by_profile.at("2")[1].type, "deletion");
  EXPECT_EQ(by_profile.at("2")[1].key, "2:2");
  ASSERT_TRUE(by_profile.contains("3"));
  ASSERT_EQ(by_profile.at("3").size(), 1u);
  EXPECT_EQ(by_profile.at("3")[0].type, "profile");
  EXPECT_EQ(by_profile.at("3")[0].version, 2);
  const auto counters = service->counters();
  EXPECT_EQ(counters[0].second.skipped_consent, 5);  // 1 twice, 3 once, 4 twice
  EXPECT_EQ(counters[0].second.deletions, 1);
  ASSERT_TRUE(service->Stop().ok());
}

// The healthy destination's time to deliver N changes, alone and beside a destination whose
// receiver never answers (every request times out, retries pile up to its pending cap).
TEST_F(WebhookDeliveryTest, ADeadNeighbourDoesNotSlowAHealthyDestination) {
  constexpr uint64_t kChanges = 20000;
  std::vector<v1::ProfileUpdate> updates;
  std::map<uint64_t, uint64_t> newest;
  for (uint64_t id = 1; id <= kChanges; ++id) {
    updates.push_back(MakeUpdate(id, 1, {}));
    newest[id] = 1;
  }
  ProduceUpdates(kafka_->bootstrap_servers(), kTopic, updates);
  const auto measure = [&](const std::string& name, bool with_dead) {
    WebhookReceiver healthy(dir_, name, kSecret, {});
    std::unique_ptr<WebhookReceiver> dead;
    std::vector<sinks::DestinationConfig> destinations = {Webhook(name, healthy.url())};
    destinations[0].batch_max_size = 100;
    if (with_dead) {
      dead = std::make_unique<WebhookReceiver>(dir_, name + "-dead", kSecret, std::vector<std::string>{"--mode", "hang"});
      sinks::DestinationConfig d = Webhook(name + "-dead", dead->url());
      d.max_pending = 500;
      destinations.push_back(d);
    }
    auto service = Start(destinations);
    // From the first delivery (the consumer group has joined) to the last.
    WaitFor(healthy, [](const ReceiverState& s) { return !s.receipts.empty(); }, std::chrono::seconds(30));
    const auto start = std::chrono::steady_clock::now();
    const ReceiverState state = WaitFor(
        healthy, [&](const ReceiverState& s) { return AllNewestAcked(s, newest); }, std::chrono::seconds(120));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ExpectExactlyOnceInOrder(state, newest);
    if (with_dead) {
      const auto counters = service->counters();
      EXPECT_EQ(counters[1].second.delivered, 0);
      EXPECT_LE(counters[1].second.pending, 500 + 5000) << "the dead destination's memory is capped";
    }
    service.reset();
    return seconds;
  };
  const double alone = measure("alone", false);
  const double beside_dead = measure("beside", true);
  std::printf("healthy destination, %llu changes: alone %.2f s, beside a dead one %.2f s\n",
              static_cast<unsigned long long>(kChanges), alone, beside_dead);
  EXPECT_LT(beside_dead, alone * 1.5 + 0.5);
}

}  // namespace
}  // namespace tessera
