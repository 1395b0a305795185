#include "tests/integration/webhook_harness.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "simdjson.h"
#include "sinks/profile_updates.h"

namespace tessera::testing {
namespace {

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string HttpGet(const std::string& url) {
  std::string body;
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  const CURLcode code = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  return code == CURLE_OK ? body : "";
}

}  // namespace

WebhookReceiver::WebhookReceiver(const std::string& dir, const std::string& name, const std::string& secret,
                                 const std::vector<std::string>& extra_args) {
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  std::vector<std::string> argv = {"/usr/bin/python3", absl::StrCat(TESSERA_SOURCE_DIR, "/tests/integration/webhook_receiver.py"),
                                   "--port-file", port_file, "--secret", secret};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(argv, absl::StrCat(dir, "/", name, ".log"));
  for (int i = 0; i < 200 && port_ == 0; ++i) {
    std::ifstream in(port_file);
    in >> port_;
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(port_, 0) << "receiver " << name << " did not start; see " << dir;
}

std::string WebhookReceiver::url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }

ReceiverState WebhookReceiver::State() const {
  ReceiverState state;
  const std::string json = HttpGet(absl::StrCat("http://127.0.0.1:", port_, "/state"));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (json.empty() || parser.parse(json).get(doc)) return state;
  for (simdjson::dom::element r : doc["receipts"].get_array()) {
    Receipt receipt;
    receipt.key = std::string(std::string_view(r["key"]));
    receipt.profile_id = std::string(std::string_view(r["profile_id"]));
    int64_t version = 0;
    if (!r["version"].get(version)) receipt.version = version;
    receipt.type = std::string(std::string_view(r["type"]));
    receipt.acked = bool(r["acked"]);
    simdjson::dom::element item;
    if (!r["item"].get(item)) receipt.item = simdjson::minify(item);
    state.receipts.push_back(std::move(receipt));
  }
  state.requests = int64_t(doc["requests"]);
  state.bad_signatures = int64_t(doc["bad_signatures"]);
  for (auto [k, v] : doc["injected"].get_object()) state.injected[std::string(k)] = int64_t(v);
  return state;
}

v1::ProfileUpdate MakeUpdate(uint64_t id, uint64_t version, const std::map<std::string, bool>& consent) {
  v1::ProfileUpdate update;
  update.set_profile_id(id);
  update.set_version(version);
  update.set_updated_at_ms(1764043200000 + static_cast<int64_t>(version));
  v1::Profile& p = *update.mutable_profile();
  p.set_id(id);
  p.set_version(version);
  p.set_workspace("default");
  p.add_identifiers(absl::StrCat("email:user", id, "@example.com"));
  (*p.mutable_traits())["plan"].set_json(absl::StrCat("\"v", version, "\""));
  (*p.mutable_event_counts())["web"] = static_cast<int64_t>(version);
  for (const auto& [purpose, granted] : consent) {
    v1::ConsentState& state = (*p.mutable_consent())[purpose];
    state.set_granted(granted);
    state.set_timestamp_ms(1764043100000 + static_cast<int64_t>(version));
  }
  update.add_changed_fields("traits");
  return update;
}

void ProduceUpdates(const std::string& brokers, const std::string& topic, const std::vector<v1::ProfileUpdate>& updates) {
  auto producer = KafkaProducer::Create(brokers, {{"linger.ms", "5"}});
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (const v1::ProfileUpdate& update : updates) {
    ASSERT_TRUE((*producer)
                    ->Produce(topic, sinks::ProfileKey(update.profile_id()), sinks::ProfileUpdateToJson(update),
                              sinks::ProfileUpdateHeaders())
                    .ok());
  }
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(60)).ok());
}

std::map<std::string, std::vector<Receipt>> AckedByProfile(const ReceiverState& state) {
  std::map<std::string, std::vector<Receipt>> out;
  for (const Receipt& r : state.receipts) {
    if (r.acked) out[r.profile_id].push_back(r);
  }
  return out;
}

int64_t RssKib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

}  // namespace tessera::testing
