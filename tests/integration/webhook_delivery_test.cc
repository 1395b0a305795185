// Webhook destinations end to end inside one process: librdkafka's mock cluster (EmbeddedKafka) as
// the broker, the real DestinationWorker, and a real HTTP receiver process (webhook_receiver.py)
// that fails on purpose. Issue 7's acceptance: afterwards every change the receiver acknowledged
// was acknowledged once per idempotency key, in version order per profile, ending at each
// profile's newest version, with every signature valid; consent is enforced; a dead neighbour
// does not slow a healthy destination.
//
// TESSERA_SINKS_OUTAGE_S sets the receiver's outage (default 3 s; the issue's manual run uses 30).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "profiles/segments.h"
#include "profiles/triggers.h"
#include "simdjson.h"
#include "sinks/delivery_service.h"
#include "sinks/profile_updates.h"
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
  // Waves, so some versions of a profile are sent and others coalesce behind a pending one; more
  // waves while a kind of fault has not happened yet (a long outage leaves few requests to draw
  // faults for after it: with a 30 s one, one run of two saw no 429).
  constexpr int kProfiles = 150, kVersions = 6;
  const auto every_fault_injected = [](const ReceiverState& s) {
    for (const char* kind : {"500", "429", "timeout", "outage"}) {
      if (s.injected.at(kind) == 0) return false;
    }
    return true;
  };
  const auto waves_until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  const auto more_waves = [&](int version) {
    if (version <= kVersions) return true;
    return !every_fault_injected(receiver.State()) && std::chrono::steady_clock::now() < waves_until;
  };
  std::map<uint64_t, uint64_t> newest;
  for (int version = 1; more_waves(version); ++version) {
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

// The held-profile set is written on a thread of its own, behind the loop, and the offsets are
// committed only once it is written. So what a stopped worker held is on disk when Stop returns: the
// next worker still sends a deletion notice for each withdrawal, and re-sends nothing it delivered.
TEST_F(WebhookDeliveryTest, HeldProfilesAndOffsetsSurviveARestart) {
  WebhookReceiver receiver(dir_, "restart", kSecret, {});
  sinks::DestinationConfig d = Webhook("mail", receiver.url());
  d.purposes = {"email_marketing"};
  const std::string brokers = kafka_->bootstrap_servers();
  constexpr uint64_t kProfiles = 300;
  const auto updates = [](uint64_t version, bool granted) {
    std::vector<v1::ProfileUpdate> out;
    for (uint64_t id = 1; id <= kProfiles; ++id) out.push_back(MakeUpdate(id, version, {{"email_marketing", granted}}));
    return out;
  };
  const auto acked_types = [](const ReceiverState& state, const std::string& type) {
    size_t n = 0;
    for (const auto& [profile, receipts] : AckedByProfile(state)) {
      for (const auto& r : receipts) n += r.type == type;
    }
    return n;
  };
  // The mock cluster lets the second worker in only once the first one's session has expired.
  sinks::WorkerOptions options = Options();
  options.consumer_extra["session.timeout.ms"] = "6000";
  ASSERT_TRUE(kafka_->CreateTopics(sinks::SinkTopicSpecs({d}, kPrefix, 1)).ok());
  {
    auto service = sinks::DeliveryService::Start({d}, options);
    ASSERT_TRUE(service.ok()) << service.status();
    ProduceUpdates(brokers, kTopic, updates(1, true));
    const ReceiverState state = WaitFor(
        receiver, [&](const ReceiverState& s) { return acked_types(s, "profile") >= kProfiles; }, std::chrono::seconds(30));
    ASSERT_EQ(acked_types(state, "profile"), kProfiles);
    ASSERT_TRUE((*service)->Stop().ok());
  }
  auto service = sinks::DeliveryService::Start({d}, options);
  ASSERT_TRUE(service.ok()) << service.status();
  ProduceUpdates(brokers, kTopic, updates(2, false));
  ReceiverState state = WaitFor(
      receiver, [&](const ReceiverState& s) { return acked_types(s, "deletion") >= kProfiles; }, std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing else may arrive
  state = receiver.State();
  const auto by_profile = AckedByProfile(state);
  ASSERT_EQ(by_profile.size(), kProfiles);
  for (const auto& [profile, receipts] : by_profile) {
    ASSERT_EQ(receipts.size(), 2u) << "profile " << profile;
    EXPECT_EQ(receipts[0].type, "profile") << "profile " << profile;
    EXPECT_EQ(receipts[0].version, 1) << "profile " << profile;
    EXPECT_EQ(receipts[1].type, "deletion") << "profile " << profile;
    EXPECT_EQ(receipts[1].version, 2) << "profile " << profile;
  }
  const auto counters = (*service)->counters();
  EXPECT_EQ(counters[0].second.skipped_consent, 0);
  ASSERT_TRUE((*service)->Stop().ok());
}

// A Kafka-topic destination keeps producing while earlier batches wait for acknowledgements (per-
// record delivery reports): the topic ends with every consented profile's changes in version order
// (coalescing may skip intermediate ones), each key once, keyed by profile id with the content-type
// and idempotency-key headers, only the allowlisted fields, nothing for unconsented profiles, and
// the group's offsets past everything.
TEST_F(WebhookDeliveryTest, KafkaTopicDestinationCarriesEveryConsentedProfileInOrderOnce) {
  sinks::DestinationConfig d;
  d.name = "ads";
  d.type = sinks::DestinationType::kKafka;
  d.topic = "t.partner.ads";
  d.purposes = {"advertising"};
  d.fields = {"id"};
  d.batch_max_size = 25;
  d.batch_max_wait_ms = 10;
  d.max_in_flight = sinks::kKafkaDefaultMaxInFlight;
  auto service = Start({d});
  ASSERT_NE(service, nullptr);
  constexpr uint64_t kProfiles = 200, kVersions = 3;
  std::vector<v1::ProfileUpdate> updates;
  for (uint64_t version = 1; version <= kVersions; ++version) {
    for (uint64_t id = 1; id <= kProfiles; ++id) {
      updates.push_back(MakeUpdate(id, version, id % 2 == 1 ? std::map<std::string, bool>{{"advertising", true}}
                                                            : std::map<std::string, bool>{}));
    }
  }
  ProduceUpdates(kafka_->bootstrap_servers(), kTopic, updates);
  // Done when every update is accounted for: delivered, superseded or skipped for consent.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  sinks::SinkCounters counters;
  while (std::chrono::steady_clock::now() < deadline) {
    counters = service->counters()[0].second;
    if (counters.delivered + counters.superseded + counters.skipped_consent ==
        static_cast<int64_t>(updates.size())) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(counters.delivered + counters.superseded + counters.skipped_consent, static_cast<int64_t>(updates.size()));
  // Each unconsented profile is skipped at least once (its newest version is never superseded)
  // and at most once per version.
  EXPECT_GE(counters.skipped_consent, static_cast<int64_t>(kProfiles / 2));
  EXPECT_LE(counters.skipped_consent, static_cast<int64_t>(kProfiles / 2 * kVersions));
  ASSERT_TRUE(service->Stop().ok());
  auto lag = ReadGroupLag(kafka_->bootstrap_servers(), "t.sink.ads", {kTopic});
  ASSERT_TRUE(lag.ok()) << lag.status();
  for (const auto& p : *lag) EXPECT_EQ(p.lag(), 0) << p.topic << "[" << p.partition << "]";

  auto out = ReadTopicToEnd(kafka_->bootstrap_servers(), d.topic, absl::Seconds(20));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(static_cast<int64_t>(out->size()), counters.delivered);
  std::set<std::string> keys;
  std::map<std::string, int64_t> last_version;
  for (const KafkaMessage& m : *out) {
    const std::string* idempotency_key = m.FindHeader("idempotency-key");
    const std::string* content_type = m.FindHeader("content-type");
    ASSERT_TRUE(idempotency_key != nullptr && content_type != nullptr);
    EXPECT_EQ(*content_type, "application/json");
    EXPECT_TRUE(keys.insert(*idempotency_key).second) << "twice: " << *idempotency_key;
    simdjson::dom::parser parser;
    simdjson::dom::element item = parser.parse(m.payload);
    EXPECT_EQ(std::string_view(item["profile_id"]), m.key);
    EXPECT_EQ(std::string_view(item["idempotency_key"]), *idempotency_key);
    EXPECT_EQ(std::stoull(m.key) % 2, 1u) << "profile " << m.key << " never consented";
    std::vector<std::string> fields;
    for (auto [field, value] : simdjson::dom::object(item["profile"])) fields.emplace_back(field);
    EXPECT_EQ(fields, std::vector<std::string>{"id"});
    const int64_t version = int64_t(item["version"]);
    EXPECT_GT(version, last_version[m.key]) << "profile " << m.key << " out of order";
    last_version[m.key] = version;
  }
  EXPECT_EQ(last_version.size(), kProfiles / 2);
  for (const auto& [id, version] : last_version) EXPECT_EQ(version, static_cast<int64_t>(kVersions)) << id;
}

// The JSON value `json` re-rendered compactly, so two spellings of one document compare equal.
std::string Compact(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) return "not JSON: " + json;
  return simdjson::minify(doc);
}

// Segment changes and triggers exactly as the activation code publishes them (app/outputs.cc:
// profiles::SegmentChangeToJson / TriggerFiringToJson, keyed by sinks::ProfileKey, with a JSON
// content type; the test does not link the app library for it): a destination that
// subscribed to them gets each one unchanged as the item's `data`, only for a profile it holds
// (consent), only for the segments it named, and in order after that profile's own update.
TEST_F(WebhookDeliveryTest, RealSegmentChangesAndTriggersReachOnlyConsentedProfilesAndNamedSegments) {
  const std::string segment_changes_topic = absl::StrCat(kPrefix, "segment-changes");
  const std::string triggers_topic = absl::StrCat(kPrefix, "triggers");
  ASSERT_TRUE(kafka_->CreateTopics({{segment_changes_topic, 4, {}}, {triggers_topic, 4, {}}}).ok());
  WebhookReceiver receiver(dir_, "activation", kSecret, {"--record-items"});
  sinks::DestinationConfig d = Webhook("activation", receiver.url());
  d.segment_changes = true;
  d.segments = {"vip"};
  d.triggers = true;
  d.purposes = {"email_marketing"};
  d.fields = {"id", "traits"};
  auto service = Start({d});
  ASSERT_NE(service, nullptr);
  const std::string brokers = kafka_->bootstrap_servers();
  // 1 consents; 2 does not.
  ProduceUpdates(brokers, kTopic, {MakeUpdate(1, 1, {{"email_marketing", true}}), MakeUpdate(2, 1, {})});
  ReceiverState state = WaitFor(receiver, [](const ReceiverState& s) { return !s.receipts.empty(); },
                                std::chrono::seconds(20));
  ASSERT_EQ(state.receipts.size(), 1u);

  const int64_t at_ms = 1764043200000;
  const profiles::SegmentChange vip_entered{1, "vip", true, at_ms, 1, ""};
  const profiles::SegmentChange vip_exited{1, "vip", false, at_ms + 1000, 2, "merged"};
  const profiles::SegmentChange churn_entered{1, "churn", true, at_ms, 1, ""};
  const profiles::SegmentChange unconsented_vip{2, "vip", true, at_ms, 1, ""};
  const profiles::TriggerFiring birthday{1,  "birthday", "birthday:2027", at_ms, at_ms + 5, "Asia/Bangkok",
                                         R"({"days_before":3})"};
  const profiles::TriggerFiring unconsented_birthday{2, "birthday", "birthday:2027", at_ms, at_ms + 5, "Asia/Bangkok",
                                                     ""};
  auto producer = KafkaProducer::Create(brokers);
  ASSERT_TRUE(producer.ok()) << producer.status();
  const std::vector<KafkaHeader> json = {{"content-type", "application/json"}};
  for (const profiles::SegmentChange* change : {&vip_entered, &churn_entered, &unconsented_vip, &vip_exited}) {
    ASSERT_TRUE((*producer)
                    ->Produce(segment_changes_topic, sinks::ProfileKey(change->profile_id),
                              profiles::SegmentChangeToJson(*change), json)
                    .ok());
  }
  for (const profiles::TriggerFiring* firing : {&birthday, &unconsented_birthday}) {
    ASSERT_TRUE((*producer)
                    ->Produce(triggers_topic, sinks::ProfileKey(firing->profile_id),
                              profiles::TriggerFiringToJson(*firing), json)
                    .ok());
  }
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(10)).ok());

  state = WaitFor(receiver, [](const ReceiverState& s) { return s.receipts.size() >= 4; }, std::chrono::seconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing else may arrive
  state = receiver.State();
  EXPECT_EQ(state.bad_signatures, 0);
  const auto by_profile = AckedByProfile(state);
  EXPECT_FALSE(by_profile.contains("2")) << "profile 2 never consented";
  ASSERT_TRUE(by_profile.contains("1"));
  const std::vector<testing::Receipt>& one = by_profile.at("1");
  ASSERT_EQ(one.size(), 4u);  // its profile, vip entered, vip exited, the birthday; churn is not named
  EXPECT_EQ(one[0].type, "profile");
  {
    // What the allowlist keeps of profile 1's published update: id and traits, as encoded.
    simdjson::dom::parser parser;
    simdjson::dom::element update =
        parser.parse(sinks::ProfileUpdateToJson(MakeUpdate(1, 1, {{"email_marketing", true}})));
    EXPECT_EQ(one[0].item, absl::StrCat(R"({"type":"profile","idempotency_key":"1:1","profile_id":"1","version":1,)",
                                        R"("changed":["traits"],"profile":{"id":)", simdjson::minify(update["profile"]["id"]),
                                        R"(,"traits":)", simdjson::minify(update["profile"]["traits"]), "}}"));
  }
  std::vector<std::string> segment_data, trigger_data;
  for (size_t i = 1; i < one.size(); ++i) {
    simdjson::dom::parser parser;
    simdjson::dom::element item = parser.parse(one[i].item);
    const std::string data = simdjson::minify(item["data"]);
    if (one[i].type == "segment_change") {
      EXPECT_EQ(one[i].key.rfind(segment_changes_topic + ":", 0), 0u) << one[i].key;
      segment_data.push_back(data);
    } else {
      EXPECT_EQ(one[i].type, "trigger");
      EXPECT_EQ(one[i].key.rfind(triggers_topic + ":", 0), 0u) << one[i].key;
      trigger_data.push_back(data);
    }
  }
  // Entered before exited: both are records of profile 1 in one partition, delivered in order.
  EXPECT_EQ(segment_data, (std::vector<std::string>{Compact(profiles::SegmentChangeToJson(vip_entered)),
                                                    Compact(profiles::SegmentChangeToJson(vip_exited))}));
  EXPECT_EQ(trigger_data, (std::vector<std::string>{Compact(profiles::TriggerFiringToJson(birthday))}));
  const auto counters = service->counters();
  EXPECT_EQ(counters[0].second.skipped_consent, 3);  // 2's update, its vip entry and its birthday
  EXPECT_EQ(counters[0].second.delivered, 4);
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
