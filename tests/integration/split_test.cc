// `tessera profile split` end to end without Kafka (app::SplitProfiles, what the command runs): raw
// JSON through the fused pipeline into one wrongly merged profile, then the split over a real
// RocksDB, and every event back in the profile it belongs to: the event store's timelines, the
// rebuilt profiles' traits and orders, the identity lookups, the profile updates, and all of it
// still there after the store is reopened. The property test shuffles two customers' events,
// merges them through a wrong link, splits, and demands the profiles each customer's events give
// when fed alone. The command test runs the `tessera profile split` binary over a store the test
// holds, then releases, and reads what it published from librdkafka's mock cluster.
#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <simdjson.h>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/fused_pipeline.h"
#include "app/identity_commands.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/bytes.h"
#include "common/identifier.h"
#include "common/kafka.h"
#include "common/rocks_store.h"
#include "identity/identity_resolver.h"
#include "identity/identity_split.h"
#include "profiles/event_store.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "profiles/query/query_api.h"
#include "profiles/query/store_readers.h"
#include "profiles/triggers.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/memory_kv.h"
#include "tests/integration/child_process.h"

namespace tessera {
namespace {

using testing::MemoryKv;

constexpr char kWorkspace[] = "default";
constexpr char kShopPhone[] = "0815550192";  // typed by staff into a customer's order
constexpr char kShopPhoneE164[] = "phone:+66815550192";
const absl::Time kStart = absl::FromUnixSeconds(1'789'000'000);

std::string Timestamp(int minute) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", kStart + absl::Minutes(minute), absl::UTCTimeZone());
}

// One raw record and the customer it belongs to.
struct Record {
  v1::Channel channel;
  std::string payload;
  std::string message_id;  // as ingest derives it
  std::string person;
};

Record Identify(const std::string& person, const std::string& id, int minute, const std::string& anonymous_id,
                const std::string& email, const std::string& name) {
  return {v1::CHANNEL_WEB,
          absl::StrCat(R"({"type":"identify","messageId":")", id, R"(","anonymousId":")", anonymous_id,
                       R"(","traits":{"email":")", email, R"(","name":")", name, R"("},"timestamp":")", Timestamp(minute),
                       R"("})"),
          id, person};
}

Record Track(const std::string& person, const std::string& id, int minute, const std::string& anonymous_id,
             const std::string& event) {
  return {v1::CHANNEL_WEB,
          absl::StrCat(R"({"type":"track","messageId":")", id, R"(","anonymousId":")", anonymous_id, R"(","event":")",
                       event, R"(","timestamp":")", Timestamp(minute), R"("})"),
          id, person};
}

Record Order(const std::string& person, const std::string& order_id, int minute, const std::string& email,
             const std::string& phone, int total) {
  std::string customer = absl::StrCat(R"({"email":")", email, R"(")");
  if (!phone.empty()) absl::StrAppend(&customer, R"(,"phone":")", phone, R"(")");
  customer += "}";
  return {v1::CHANNEL_PURCHASE,
          absl::StrCat(R"({"order_id":")", order_id, R"(","timestamp":")", Timestamp(minute),
                       R"(","currency":"THB","customer":)", customer, R"(,"total":)", total,
                       R"(,"status":"completed"})"),
          absl::StrCat("order:", order_id, ":completed"), person};
}

// Alice and Bob. Staff typed the shop's phone into one order of each: the phone glues them.
std::vector<Record> GluedCustomers() {
  return {
      Identify("alice", "a-1", 0, "anon-alice", "alice@x.com", "Alice"),
      Track("alice", "a-2", 3, "anon-alice", "Product Viewed"),
      Order("alice", "A-100", 5, "alice@x.com", kShopPhone, 250),
      Identify("bob", "b-1", 10, "anon-bob", "bob@y.com", "Bob"),
      Track("bob", "b-2", 12, "anon-bob", "Cart Viewed"),
      Order("bob", "B-200", 20, "bob@y.com", kShopPhone, 990),
      Order("bob", "B-201", 25, "bob@y.com", "", 120),
  };
}

// Feeds records through the fused pipeline in batches of `batch`, committing each batch through
// `commit` (nothing for a MemoryKv, StagedWrites::Commit for RocksDB).
template <typename MakeView, typename Commit>
void Feed(const std::vector<Record>& records, size_t batch, MakeView make_view, Commit commit,
          std::shared_ptr<const profiles::ActivationEngine> activation = nullptr) {
  testing::ManualClock clock(1'790'000'000'000);
  app::FusedPipelineOptions options;
  options.activation = activation;
  int64_t offset = 0;
  for (size_t next = 0; next < records.size();) {
    auto view = make_view();
    app::FusedPipeline pipeline(&*view, options, &clock);
    for (const size_t end = std::min(records.size(), next + batch); next < end; ++next) {
      app::RawRecord raw;
      raw.channel = records[next].channel;
      raw.payload = records[next].payload;
      raw.source.set_topic(std::string(app::RawTopicSuffix(raw.channel)));
      raw.source.set_offset(offset++);
      raw.received_at_ms = clock.NowMillis();
      ASSERT_TRUE(pipeline.Apply(raw).ok());
    }
    auto outputs = pipeline.FinishBatch();
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    ASSERT_TRUE(outputs->dead_letters.empty()) << outputs->dead_letters.front().reason();
    commit(*view);
  }
}

identity::PrefixScan ScanOfStore(const RocksStore& store) {
  return [&store](std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
    return store.ScanPrefix(prefix, visit);
  };
}

app::SplitOptions LinkSplit(const std::string& link) {
  app::SplitOptions options;
  options.workspace = kWorkspace;
  options.removal = identity::ParseLinkRemoval(link).value();
  options.audit = identity::SplitAudit{"test", 1'790'000'100'000, ""};
  return options;
}

std::optional<uint64_t> RootOf(KeyValueView& kv, const std::string& identifier) {
  auto root = identity::LookupIdentifier(kv, kWorkspace, ParseIdentifier(identifier).value());
  EXPECT_TRUE(root.ok()) << root.status();
  return root.ok() ? *root : std::nullopt;
}

// The message ids of a profile's timeline: under its id and every id it absorbed.
std::set<std::string> TimelineOf(const profiles::KeyRangeReader& reader, const v1::Profile& profile) {
  std::set<std::string> ids;
  std::vector<uint64_t> stored_under = {profile.id()};
  stored_under.insert(stored_under.end(), profile.merged_from().begin(), profile.merged_from().end());
  for (uint64_t id : stored_under) {
    const std::string prefix = profiles::EventTimelinePrefix(kWorkspace, id);
    EXPECT_TRUE(reader
                    .Scan(prefix, prefix,
                          [&](std::string_view key, std::string_view value) {
                            v1::Event event;
                            EXPECT_TRUE(profiles::ParseStoredEvent(kWorkspace, key.substr(prefix.size()), value, event));
                            ids.insert(event.message_id());
                            return true;
                          })
                    .ok());
  }
  return ids;
}

std::set<std::string> MessageIdsOf(const std::vector<Record>& records, const std::string& person) {
  std::set<std::string> ids;
  for (const Record& r : records) {
    if (r.person == person) ids.insert(r.message_id);
  }
  return ids;
}

std::string Trait(const v1::Profile& profile, const std::string& name) {
  auto it = profile.traits().find(name);
  return it == profile.traits().end() ? "" : it->second.json();
}

TEST(SplitTest, AWrongMergeIsSplitAndEveryEventReturnsToItsCustomerAcrossARestart) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / absl::StrCat("tessera-split-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "store").string();
  const std::vector<Record> records = GluedCustomers();
  uint64_t alice = 0;
  uint64_t bob = 0;
  {
    auto store = RocksStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    Feed(
        records, 3, [&] { return std::make_unique<StagedWrites>(store->get()); },
        [](StagedWrites& staged) { ASSERT_TRUE(staged.Commit().ok()); });
    StoreReader lookups(store->get());
    ASSERT_EQ(RootOf(lookups, "email:alice@x.com"), RootOf(lookups, "email:bob@y.com"));  // the wrong merge
    const uint64_t merged = *RootOf(lookups, "email:alice@x.com");
    auto before = profiles::ProfileStore(&lookups).Load(merged).value();
    ASSERT_TRUE(before.has_value());
    EXPECT_EQ(before->orders_size(), 3);

    StagedWrites staged(store->get());
    query::RocksRangeReader reader(store->get());
    auto outcome = app::SplitProfiles(staged, reader, ScanOfStore(**store),
                                      LinkSplit(absl::StrCat("email:bob@y.com--", kShopPhoneE164)));
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_TRUE(staged.Commit().ok());
    ASSERT_EQ(outcome->plans.size(), 1u);
    ASSERT_EQ(outcome->plans[0].parts.size(), 2u);
    alice = outcome->plans[0].parts[0].id;
    bob = outcome->plans[0].parts[1].id;
    EXPECT_EQ(alice, merged);  // Alice's claims are the earliest: she keeps the id

    // Downstream: the old id with fewer identifiers and a new version, the new id as a new profile.
    ASSERT_EQ(outcome->updates.size(), 2u);
    EXPECT_EQ(outcome->updates[0].profile_id(), alice);
    EXPECT_EQ(outcome->updates[0].version(), before->version() + 1);
    EXPECT_EQ(outcome->updates[1].profile_id(), bob);
    EXPECT_EQ(outcome->updates[1].version(), 1u);
    EXPECT_EQ(outcome->updates[1].profile().identifiers_size(), 2);
    const auto& changed = outcome->updates[0].changed_fields();
    EXPECT_NE(std::find(changed.begin(), changed.end(), "identifiers"), changed.end());
    EXPECT_EQ(std::find(changed.begin(), changed.end(), "version"), changed.end());
  }

  // Reopened: the split is durable.
  auto store = RocksStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  StoreReader lookups(store->get());
  query::RocksRangeReader reader(store->get());
  EXPECT_EQ(RootOf(lookups, "email:alice@x.com"), alice);
  EXPECT_EQ(RootOf(lookups, "anonymous_id:anon-alice"), alice);
  EXPECT_EQ(RootOf(lookups, kShopPhoneE164), alice);  // Alice's order asserted it first
  EXPECT_EQ(RootOf(lookups, "email:bob@y.com"), bob);
  EXPECT_EQ(RootOf(lookups, "anonymous_id:anon-bob"), bob);

  // Every event is in its customer's timeline, and only there.
  profiles::ProfileStore profiles(&lookups);
  const v1::Profile a = profiles.Load(alice).value().value();
  const v1::Profile b = profiles.Load(bob).value().value();
  EXPECT_EQ(TimelineOf(reader, a), MessageIdsOf(records, "alice"));
  EXPECT_EQ(TimelineOf(reader, b), MessageIdsOf(records, "bob"));
  EXPECT_TRUE(b.merged_from().empty());  // all of Bob's events are under his new id
  EXPECT_EQ(Trait(a, "name"), "\"Alice\"");
  EXPECT_EQ(Trait(b, "name"), "\"Bob\"");
  EXPECT_EQ(a.orders_size(), 1);
  EXPECT_TRUE(a.orders().contains("A-100"));
  EXPECT_EQ(b.orders_size(), 2);
  EXPECT_TRUE(b.orders().contains("B-200") && b.orders().contains("B-201"));
  auto identifiers = [](const v1::Profile& p) { return std::vector<std::string>(p.identifiers().begin(), p.identifiers().end()); };
  EXPECT_EQ(identifiers(a),
            (std::vector<std::string>{"anonymous_id:anon-alice", "email:alice@x.com", std::string(kShopPhoneE164)}));
  EXPECT_EQ(identifiers(b), (std::vector<std::string>{"anonymous_id:anon-bob", "email:bob@y.com"}));
  EXPECT_EQ(a.event_counts().at("web") + a.event_counts().at("purchase"), 3);
  EXPECT_EQ(b.event_counts().at("web") + b.event_counts().at("purchase"), 4);

  // The history of both says so, and explain's reader finds it from either side.
  for (uint64_t id : {alice, bob}) {
    auto splits = identity::ReadSplits(ScanOfStore(**store), id);
    ASSERT_TRUE(splits.ok()) << splits.status();
    ASSERT_EQ(splits->size(), 1u);
    EXPECT_EQ(splits->front().removed, absl::StrCat("link email:bob@y.com--", kShopPhoneE164));
    EXPECT_EQ(splits->front().removed_events, std::vector<std::string>{"order:B-200:completed"});
  }
  // The analysts' API says the same: each history lists the split, each timeline only its own
  // customer's events.
  {
    testing::ManualClock clock(absl::ToUnixMillis(absl::Now()));
    query::QueryConfig config;
    config.default_workspace = kWorkspace;
    config.WithAllScopes("t");
    query::QueryApi scoped(&reader, config, &clock);
    simdjson::dom::parser parser;
    for (uint64_t id : {alice, bob}) {
      const query::QueryResponse history =
          scoped.Handle(query::QueryRequest{"GET", absl::StrCat("/v1/profiles/", id, "/history"), "Bearer t"});
      ASSERT_EQ(history.status, 200) << history.body;
      simdjson::dom::element body = parser.parse(history.body);
      ASSERT_EQ(body["splits"].get_array().size(), 1u) << history.body;
      EXPECT_EQ(std::string(body["splits"].at(0)["profile_id"].get_string().value()), std::to_string(alice));
      EXPECT_EQ(std::string(body["splits"].at(0)["new_ids"].at(0).get_string().value()), std::to_string(bob));
      EXPECT_EQ(std::string(body["splits"].at(0)["removed"].get_string().value()),
                absl::StrCat("link email:bob@y.com--", kShopPhoneE164));
      EXPECT_GT(body["links"].get_array().size(), 0u) << history.body;
    }
    std::set<std::string> bob_timeline;
    const query::QueryResponse events =
        scoped.Handle(query::QueryRequest{"GET", "/v1/profiles/email:bob@y.com/events?limit=100", "Bearer t"});
    ASSERT_EQ(events.status, 200) << events.body;
    for (simdjson::dom::element event : parser.parse(events.body)["events"].get_array()) {
      bob_timeline.insert(std::string(event["message_id"].get_string().value()));
    }
    EXPECT_EQ(bob_timeline, MessageIdsOf(records, "bob"));
  }

  // Bob comes back after the restart: his event goes to his own profile.
  Feed(
      {Track("bob", "b-9", 60, "anon-bob", "Product Viewed")}, 1,
      [&] { return std::make_unique<StagedWrites>(store->get()); },
      [](StagedWrites& staged) { ASSERT_TRUE(staged.Commit().ok()); });
  EXPECT_EQ(TimelineOf(reader, profiles.Load(bob).value().value()).count("b-9"), 1u);
  EXPECT_EQ(profiles.Load(bob).value()->event_counts().at("web"), 3);
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST(SplitTest, ADryRunChangesNothing) {
  MemoryKv kv;
  Feed(GluedCustomers(), 100, [&] { return &kv; }, [](KeyValueView&) {});
  const std::map<std::string, std::string> before = kv.data();
  app::SplitOptions options = LinkSplit(absl::StrCat("email:bob@y.com--", kShopPhoneE164));
  options.dry_run = true;
  profiles::MapRangeReader reader(&kv.data());
  auto outcome = app::SplitProfiles(kv, reader, kv.Scanner(), options);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_EQ(outcome->plans.size(), 1u);
  EXPECT_TRUE(outcome->plans[0].Splits());  // it says what would happen
  EXPECT_TRUE(outcome->updates.empty());
  EXPECT_EQ(kv.data(), before);  // and does none of it
}

TEST(SplitTest, ALinkNobodyAssertedIsAClearErrorAndWritesNothing) {
  MemoryKv kv;
  Feed(GluedCustomers(), 100, [&] { return &kv; }, [](KeyValueView&) {});
  const std::map<std::string, std::string> before = kv.data();
  profiles::MapRangeReader reader(&kv.data());
  auto unknown = app::SplitProfiles(kv, reader, kv.Scanner(), LinkSplit("email:carol@z.com--email:bob@y.com"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("no profile holds email:carol@z.com"), std::string_view::npos);
  auto unasserted =
      app::SplitProfiles(kv, reader, kv.Scanner(), LinkSplit("anonymous_id:anon-alice--email:bob@y.com"));
  EXPECT_EQ(unasserted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(kv.data(), before);
}

TEST(SplitTest, WithSegmentsTheKeptProfileExitsAndTheNewOneEnters) {
  auto config = profiles::ParseActivationConfig(R"(
profiles:
  segments:
    - name: bobs
      condition: {trait: name, eq: Bob}
    - name: viewers
      condition: {event: Product Viewed, within_days: 0}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = std::make_shared<const profiles::ActivationEngine>(*std::move(config));
  MemoryKv kv;
  Feed(GluedCustomers(), 100, [&] { return &kv; }, [](KeyValueView&) {}, engine);
  const uint64_t merged = *RootOf(kv, "email:alice@x.com");
  const v1::Profile before = profiles::ProfileStore(&kv).Load(merged).value().value();
  ASSERT_TRUE(before.segments().contains("bobs"));  // the glued profile's name is Bob's (latest)
  ASSERT_TRUE(before.segments().contains("viewers"));  // Alice viewed a product

  app::SplitOptions options = LinkSplit(absl::StrCat("email:bob@y.com--", kShopPhoneE164));
  options.activation = engine;
  profiles::MapRangeReader reader(&kv.data());
  auto outcome = app::SplitProfiles(kv, reader, kv.Scanner(), options);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const uint64_t bob = *RootOf(kv, "email:bob@y.com");
  std::set<std::string> changes;
  for (const profiles::SegmentChange& c : outcome->activation.segment_changes) {
    changes.insert(absl::StrCat(c.profile_id == merged ? "alice" : c.profile_id == bob ? "bob" : "?", " ",
                                c.entered ? "entered " : "exited ", c.segment));
  }
  // Alice keeps "viewers" (her page view is counted again from her events) and leaves "bobs";
  // Bob's new profile enters "bobs" and, having viewed nothing, not "viewers".
  EXPECT_EQ(changes, (std::set<std::string>{"alice exited bobs", "bob entered bobs"}));
  profiles::ProfileStore store(&kv);
  EXPECT_TRUE(store.Load(merged).value()->segments().contains("viewers"));
  EXPECT_FALSE(store.Load(bob).value()->segments().contains("viewers"));
}

// A profile's content without what identity decides (ids, identifiers, merges, version).
std::string ContentOf(v1::Profile profile) {
  profile.clear_id();
  profile.clear_version();
  profile.clear_merged_from();
  profile.clear_identifiers();
  return profiles::ProfileToJson(profile);
}

// Two customers with random events (page views, identifies, orders), one order of the second
// carrying the first's phone.
std::vector<Record> RandomCustomers(std::mt19937_64& rng) {
  std::vector<Record> records;
  std::uniform_int_distribution<int> minute(0, 10'000);
  std::uniform_int_distribution<int> count(1, 6);
  std::uniform_int_distribution<int> amount(10, 5000);
  const std::string phone_of_first = kShopPhone;
  int serial = 0;
  for (const std::string person : {"first", "second"}) {
    const std::string anonymous_id = absl::StrCat("anon-", person);
    const std::string email = absl::StrCat(person, "@example.com");
    records.push_back(Identify(person, absl::StrCat(person, "-id"), minute(rng), anonymous_id, email, person));
    for (int i = count(rng); i > 0; --i) {
      records.push_back(Track(person, absl::StrCat(person, "-t", ++serial), minute(rng), anonymous_id, "Product Viewed"));
    }
    for (int i = count(rng); i > 0; --i) {
      ++serial;
      records.push_back(Identify(person, absl::StrCat(person, "-i", serial), minute(rng), anonymous_id, email,
                                 absl::StrCat(person, " ", serial)));
    }
    for (int i = count(rng); i > 0; --i) {
      records.push_back(Order(person, absl::StrCat(person, "-O", ++serial), minute(rng), email,
                              person == "first" ? phone_of_first : "", amount(rng)));
    }
  }
  records.push_back(Order("second", "WRONG-1", minute(rng), "second@example.com", phone_of_first, amount(rng)));
  return records;
}

TEST(SplitPropertyTest, ShuffledMergedThenSplitGivesWhatEachCustomerAloneGives) {
  for (uint64_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937_64 rng(seed);
    std::vector<Record> records = RandomCustomers(rng);

    // Each customer alone (the wrong order stays the second's: it is theirs, only its phone is not).
    std::map<std::string, std::string> alone;
    for (const std::string person : {"first", "second"}) {
      std::vector<Record> own;
      for (const Record& r : records) {
        if (r.person == person) own.push_back(r);
      }
      MemoryKv kv;
      Feed(own, 100, [&] { return &kv; }, [](KeyValueView&) {});
      const auto root = RootOf(kv, absl::StrCat("email:", person, "@example.com"));
      ASSERT_TRUE(root.has_value());
      alone[person] = ContentOf(profiles::ProfileStore(&kv).Load(*root).value().value());
    }

    // Together, in a random order and random batches: one profile, then split.
    std::shuffle(records.begin(), records.end(), rng);
    MemoryKv kv;
    Feed(records, std::uniform_int_distribution<size_t>(1, 8)(rng), [&] { return &kv; }, [](KeyValueView&) {});
    ASSERT_EQ(RootOf(kv, "email:first@example.com"), RootOf(kv, "email:second@example.com"));
    profiles::MapRangeReader reader(&kv.data());
    auto outcome = app::SplitProfiles(kv, reader, kv.Scanner(),
                                      LinkSplit(absl::StrCat("email:second@example.com--", kShopPhoneE164)));
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_EQ(outcome->records.size(), 1u);

    profiles::ProfileStore store(&kv);
    for (const std::string person : {"first", "second"}) {
      const auto root = RootOf(kv, absl::StrCat("email:", person, "@example.com"));
      ASSERT_TRUE(root.has_value());
      const v1::Profile profile = store.Load(*root).value().value();
      EXPECT_EQ(ContentOf(profile), alone[person]) << person;
      EXPECT_EQ(TimelineOf(reader, profile), MessageIdsOf(records, person)) << person;
      const std::string phone_holder = person == "first" ? std::string(kShopPhoneE164) : "";
      std::vector<std::string> expected = {absl::StrCat("anonymous_id:anon-", person),
                                           absl::StrCat("email:", person, "@example.com")};
      if (!phone_holder.empty()) expected.push_back(phone_holder);
      EXPECT_EQ(std::vector<std::string>(profile.identifiers().begin(), profile.identifiers().end()), expected);
    }
    EXPECT_NE(RootOf(kv, "email:first@example.com"), RootOf(kv, "email:second@example.com"));
    EXPECT_EQ(RootOf(kv, kShopPhoneE164), RootOf(kv, "email:first@example.com"));
  }
}

// `tessera profile split ...` through a shell, stdout and stderr together.
std::string RunSplit(const std::string& args, int* exit_code) {
  return testing::RunAndCapture({"/bin/sh", "-c", absl::StrCat(TESSERA_BIN, " ", args, " 2>&1")}, exit_code);
}

TEST(SplitCommandTest, RefusesAHeldStoreThenSplitsAndPublishesBothProfiles) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string prefix = "split.";
  const app::Topics topics(prefix);
  ASSERT_TRUE((*kafka)->CreateTopics(topics.Specs(2)).ok());
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / absl::StrCat("tessera-split-cmd-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string link = absl::StrCat("--link email:bob@y.com--", kShopPhoneE164);
  const std::string common = absl::StrCat("--data-dir ", dir.string(), " --brokers ", (*kafka)->bootstrap_servers(),
                                          " --topic-prefix ", prefix);
  int exit_code = -1;
  {
    auto store = RocksStore::Open(app::FusedStorePath(dir.string()));
    ASSERT_TRUE(store.ok()) << store.status();
    Feed(
        GluedCustomers(), 100, [&] { return std::make_unique<StagedWrites>(store->get()); },
        [](StagedWrites& staged) { ASSERT_TRUE(staged.Commit().ok()); });

    // While `run` would hold the store: the split is refused, the dry run works.
    std::string out = RunSplit(absl::StrCat("profile split ", link, " ", common), &exit_code);
    EXPECT_NE(exit_code, 0);
    EXPECT_NE(out.find("stop `tessera run` before splitting"), std::string::npos) << out;
    out = RunSplit(absl::StrCat("profile split ", link, " ", common, " --dry-run --json"), &exit_code);
    EXPECT_EQ(exit_code, 0) << out;
    EXPECT_NE(out.find(R"("dry_run":true)"), std::string::npos) << out;
    EXPECT_NE(out.find(R"("splits":true)"), std::string::npos) << out;
    // Nothing written silently: without --brokers it wants --no-publish.
    out = RunSplit(absl::StrCat("profile split ", link, " --data-dir ", dir.string()), &exit_code);
    EXPECT_EQ(exit_code, 2) << out;
  }

  std::string out = RunSplit(absl::StrCat("profile split ", link, " ", common, " --by ops"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  auto published = ReadTopicToEnd((*kafka)->bootstrap_servers(), topics.profile_updates);
  ASSERT_TRUE(published.ok()) << published.status();
  ASSERT_EQ(published->size(), 2u);
  std::map<uint64_t, std::vector<std::string>> identifiers_by_id;  // by id: the kept (smaller) one first
  std::map<uint64_t, int64_t> version_by_id;
  for (const KafkaMessage& message : *published) {
    simdjson::dom::parser parser;
    simdjson::dom::element update = parser.parse(message.payload).value();
    const std::string_view id_text = update["profile_id"].get_string().value();
    EXPECT_EQ(message.key, id_text);
    const uint64_t id = std::stoull(std::string(id_text));
    version_by_id[id] = update["version"].get_int64().value();
    for (simdjson::dom::element e : update["profile"]["identifiers"].get_array()) {
      identifiers_by_id[id].emplace_back(e.get_string().value());
    }
  }
  ASSERT_EQ(identifiers_by_id.size(), 2u);
  const auto alice = identifiers_by_id.begin();
  const auto bob = std::next(alice);
  EXPECT_EQ(alice->second,
            (std::vector<std::string>{"anonymous_id:anon-alice", "email:alice@x.com", std::string(kShopPhoneE164)}));
  EXPECT_EQ(bob->second, (std::vector<std::string>{"anonymous_id:anon-bob", "email:bob@y.com"}));
  EXPECT_GT(version_by_id[alice->first], 1);  // a new version of the profile split
  EXPECT_EQ(version_by_id[bob->first], 1);    // a new profile

  // Explain shows the split from Bob's side; the same split again has nothing left to remove.
  out = testing::RunAndCapture({TESSERA_BIN, "profile", "explain", "email:bob@y.com", "--data-dir", dir.string(), "--json"},
                               &exit_code);
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find(absl::StrCat(R"("splits":[{"workspace":"default","profile_id":")", alice->first, R"(")")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("by":"ops")"), std::string::npos) << out;
  out = RunSplit(absl::StrCat("profile split ", link, " ", common), &exit_code);
  EXPECT_EQ(exit_code, 1) << out;
  EXPECT_NE(out.find("are not linked"), std::string::npos) << out;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
