// `tessera segment backfill NAME` as a user runs it: the binary over a fused store written by the
// pipeline without any segments configured, against librdkafka's mock cluster. Each stored profile
// that meets the segment enters it once, on segment-changes; a second run publishes nothing (one
// change per transition); a segment the config does not name, and a store `run` still holds, are
// clear errors.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "app/fused_pipeline.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/kafka.h"
#include "common/rocks_store.h"
#include "identity/identity_resolver.h"
#include "common/identifier.h"
#include "tests/fakes/manual_clock.h"
#include "tests/integration/child_process.h"

namespace tessera {
namespace {

constexpr char kConfig[] = R"(profiles:
  segments:
    - {name: named, condition: {trait: name, exists: true}}
)";

std::string Identify(const std::string& id, const std::string& anonymous_id, const std::string& name) {
  std::string traits = name.empty() ? "{}" : absl::StrCat(R"({"name":")", name, R"("})");
  return absl::StrCat(R"({"type":"identify","messageId":")", id, R"(","anonymousId":")", anonymous_id,
                      R"(","traits":)", traits, R"(,"timestamp":"2026-11-20T03:00:00Z"})");
}

// Writes three customers through the fused pipeline, with no segments configured: two of them
// give a name, the third only visits.
void StoreCustomers(RocksStore* store) {
  testing::ManualClock clock(1'790'000'000'000);
  StagedWrites staged(store);
  app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
  int64_t offset = 0;
  for (const std::string& payload : {Identify("m-1", "anon-somchai", "สมชาย"), Identify("m-2", "anon-nok", "Nok"),
                                     Identify("m-3", "anon-visitor", "")}) {
    app::RawRecord raw;
    raw.channel = v1::CHANNEL_WEB;
    raw.payload = payload;
    raw.source.set_topic("raw.web");
    raw.source.set_offset(offset++);
    raw.received_at_ms = clock.NowMillis();
    ASSERT_TRUE(pipeline.Apply(raw).ok());
  }
  auto outputs = pipeline.FinishBatch();
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_TRUE(outputs->dead_letters.empty());
  ASSERT_TRUE(staged.Commit().ok());
}

uint64_t RootOf(RocksStore* store, const std::string& identifier) {
  StoreReader reader(store);
  auto root = identity::LookupIdentifier(reader, "default", ParseIdentifier(identifier).value());
  EXPECT_TRUE(root.ok() && root->has_value()) << identifier;
  return root.ok() && root->has_value() ? **root : 0;
}

std::string RunTessera(const std::string& args, int* exit_code) {
  return testing::RunAndCapture({"/bin/sh", "-c", absl::StrCat(TESSERA_BIN, " ", args, " 2>&1")}, exit_code);
}

TEST(SegmentCommandTest, BackfillPublishesEachEnterOnceAndRefusesWhatItCannotDo) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string prefix = "seg.";
  const app::Topics topics(prefix);
  ASSERT_TRUE((*kafka)->CreateTopics(topics.Specs(2)).ok());
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / absl::StrCat("tessera-segment-cmd-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "tessera.yaml").string();
  std::ofstream(config) << kConfig;
  const std::string common = absl::StrCat("--config ", config, " --data-dir ", dir.string(), " --brokers ",
                                          (*kafka)->bootstrap_servers(), " --topic-prefix ", prefix);
  std::set<uint64_t> named;
  int exit_code = -1;
  {
    auto store = RocksStore::Open(app::FusedStorePath(dir.string()));
    ASSERT_TRUE(store.ok()) << store.status();
    StoreCustomers(store->get());
    named = {RootOf(store->get(), "anonymous_id:anon-somchai"), RootOf(store->get(), "anonymous_id:anon-nok")};
    // While the store is held (as by `tessera run`), the command says what to do.
    const std::string out = RunTessera(absl::StrCat("segment backfill named ", common), &exit_code);
    EXPECT_NE(exit_code, 0);
    EXPECT_NE(out.find("stop `tessera run`"), std::string::npos) << out;
  }

  std::string out = RunTessera(absl::StrCat("segment backfill named ", common), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find("named: 2 entered, 0 exited over 3 profiles"), std::string::npos) << out;
  auto published = ReadTopicToEnd((*kafka)->bootstrap_servers(), topics.segment_changes);
  ASSERT_TRUE(published.ok()) << published.status();
  std::set<uint64_t> entered;
  for (const KafkaMessage& message : *published) {
    simdjson::dom::parser parser;
    simdjson::dom::element change = parser.parse(message.payload).value();
    EXPECT_EQ(std::string(change["segment"].get_string().value()), "named");
    EXPECT_EQ(std::string(change["change"].get_string().value()), "entered");
    const std::string id(change["profile_id"].get_string().value());
    EXPECT_EQ(message.key, id);
    entered.insert(std::stoull(id));
  }
  EXPECT_EQ(published->size(), 2u);
  EXPECT_EQ(entered, named);

  // Membership was saved: a second run finds nothing to change and publishes nothing.
  out = RunTessera(absl::StrCat("segment backfill named ", common), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find("named: 0 entered, 0 exited over 3 profiles"), std::string::npos) << out;
  published = ReadTopicToEnd((*kafka)->bootstrap_servers(), topics.segment_changes);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->size(), 2u);

  out = RunTessera(absl::StrCat("segment backfill nobody ", common), &exit_code);
  EXPECT_NE(exit_code, 0);
  EXPECT_NE(out.find("no segment named 'nobody'"), std::string::npos) << out;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
