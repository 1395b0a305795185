// Pins profiles/query/profile_search.cc and store_readers.cc: a search's pages, whatever their
// size, add up to exactly the profiles a whole-profile evaluation finds (the projected decode
// changes nothing); conditions print back as text the parser reads to the same condition; the
// RocksDB reader seeks to a cursor; several stores scan as one key order.
#include "profiles/query/profile_search.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "gtest/gtest.h"
#include "profiles/query/store_readers.h"

namespace tessera::query {
namespace {

constexpr int64_t kNow = 1'795'575'845'000;  // 2026-11-25T03:04:05Z

// A store of `n` profiles with traits, orders, memberships and event windows drawn from `seed`.
std::map<std::string, std::string> RandomProfiles(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> data;
  const char* cities[] = {"Bangkok", "Chiang Mai", "Phuket"};
  for (int i = 0; i < n; ++i) {
    v1::Profile p;
    p.set_id((uint64_t{1} << 48) + rng() % 1'000'000);
    p.set_workspace(rng() % 4 == 0 ? "other" : "shop");
    p.add_identifiers(absl::StrCat("email:u", p.id(), "@example.com"));
    auto trait = [&](const char* name, std::string json) { (*p.mutable_traits())[name].set_json(std::move(json)); };
    if (rng() % 5 != 0) trait("city", absl::StrCat("\"", cities[rng() % 3], "\""));
    trait("points", absl::StrCat(rng() % 1000));
    if (rng() % 2 == 0) trait("birthday", absl::StrCat("\"", 1960 + rng() % 45, "-0", 1 + rng() % 9, "-1", rng() % 9, "\""));
    for (int o = 0, orders = static_cast<int>(rng() % 4); o < orders; ++o) {
      v1::OrderSummary& order = (*p.mutable_orders())[absl::StrCat("o", o)];
      order.set_status(v1::ORDER_STATUS_COMPLETED);
      order.mutable_total()->set_currency("THB");
      order.mutable_total()->set_minor_units(static_cast<int64_t>(rng() % 100'000));
    }
    if (rng() % 3 == 0) (*p.mutable_segments())["vip"] = kNow - static_cast<int64_t>(rng() % 1'000'000);
    if (rng() % 2 == 0) {
      (*(*p.mutable_event_windows())["web.page"].mutable_by_day())[profiles::UtcDay(kNow) - static_cast<int32_t>(rng() % 10)] =
          static_cast<int64_t>(1 + rng() % 5);
    }
    data[absl::StrCat("pf/", BigEndian64(p.id()))] = p.SerializeAsString();
  }
  data["pr/x"] = "not a profile";  // neighbours outside the prefix are never read
  data["pg/"] = "";
  return data;
}

const char* const kFilters[] = {
    "{trait: city, eq: Bangkok}",
    "{trait: city, exists: false}",
    "{all: [{trait: city, in: [Bangkok, Phuket]}, {trait: points, gte: 500}]}",
    "{any: [{computed: orders_count, gte: 2}, {not: {trait: points, lt: 900}}]}",
    "{computed: total_spend.THB, gt: 500}",
    "{trait: birthday, age_between: [30, 45]}",
    "{event: web.page, count_gte: 3, within_days: 7}",
    "{no_event: web.page, within_days: 3}",
};

// What a plain loop over whole profiles finds.
std::vector<uint64_t> BruteForce(const std::map<std::string, std::string>& data, const profiles::Condition& condition,
                                 const std::string& workspace) {
  std::vector<uint64_t> ids;
  for (const auto& [key, value] : data) {
    if (key.rfind("pf/", 0) != 0) continue;
    v1::Profile p;
    EXPECT_TRUE(p.ParseFromString(value));
    const profiles::ProfileFactsView facts(&p, absl::UTCTimeZone(), nullptr, absl::FromUnixMillis(kNow));
    if ((workspace.empty() || p.workspace() == workspace) && profiles::Evaluate(condition, facts, absl::FromUnixMillis(kNow))) {
      ids.push_back(p.id());
    }
  }
  return ids;
}

TEST(ProfileSearchProperty, PagesOfAnySizeAddUpToAWholeProfileEvaluation) {
  SearchContext context;
  std::map<std::string, size_t> most_matches;  // per filter: the test is void if one matches nothing
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::map<std::string, std::string> data = RandomProfiles(300, seed);
    const profiles::MapRangeReader reader(&data);
    std::mt19937_64 rng(seed * 101);
    for (const char* filter : kFilters) {
      const profiles::Condition condition = profiles::ParseCondition(filter).value();
      const std::string workspace = rng() % 2 == 0 ? "" : "shop";
      const std::vector<uint64_t> expected = BruteForce(data, condition, workspace);
      most_matches[filter] = std::max(most_matches[filter], expected.size());
      const ProfilePredicate predicate = FilterPredicate(condition, context, absl::FromUnixMillis(kNow));
      MatchQuery query;
      query.workspace = workspace;
      query.limit = 1 + rng() % 40;
      query.count = true;
      std::vector<uint64_t> found;
      for (int page = 0; page < 400; ++page) {
        absl::StatusOr<MatchPage> result = FindProfiles(reader, predicate, query);
        ASSERT_TRUE(result.ok()) << result.status();
        ASSERT_EQ(result->count.has_value(), query.count);
        if (query.count) {
          EXPECT_EQ(*result->count, static_cast<int64_t>(expected.size())) << filter << " from cursor " << query.cursor;
        }
        EXPECT_LE(result->profiles.size(), query.limit);
        for (const v1::Profile& p : result->profiles) {
          found.push_back(p.id());
          EXPECT_FALSE(p.identifiers().empty()) << "a page holds whole profiles, not the projection";
        }
        if (result->next_cursor.empty()) break;
        query.cursor = result->next_cursor;
        query.count = rng() % 2 == 0;
      }
      EXPECT_EQ(found, expected) << filter << " seed " << seed << " limit " << query.limit;
      // The export's walk finds the same.
      std::vector<uint64_t> walked;
      ASSERT_TRUE(ForEachMatch(reader, predicate, workspace, [&](std::string_view, std::string_view value) {
                    v1::Profile p;
                    EXPECT_TRUE(p.ParseFromArray(value.data(), static_cast<int>(value.size())));
                    walked.push_back(p.id());
                    return true;
                  }).ok());
      EXPECT_EQ(walked, expected) << filter;
    }
  }
  for (const auto& [filter, most] : most_matches) {
    EXPECT_GT(most, 5u) << filter;
    EXPECT_LT(most, 300u) << filter;
  }
}

TEST(ProfileSearch, SegmentMembersAndTheirCounts) {
  const std::map<std::string, std::string> data = RandomProfiles(500, 9);
  const profiles::MapRangeReader reader(&data);
  std::vector<uint64_t> expected;
  int64_t in_shop = 0;
  for (const auto& [key, value] : data) {
    v1::Profile p;
    if (key.rfind("pf/", 0) != 0 || !p.ParseFromString(value) || !p.segments().contains("vip")) continue;
    expected.push_back(p.id());
    in_shop += p.workspace() == "shop";
  }
  ASSERT_GT(expected.size(), 100u);
  MatchQuery query;
  query.limit = 7;
  std::vector<uint64_t> found;
  while (true) {
    MatchPage page = FindProfiles(reader, SegmentPredicate("vip"), query).value();
    for (const v1::Profile& p : page.profiles) found.push_back(p.id());
    if (page.next_cursor.empty()) break;
    query.cursor = page.next_cursor;
  }
  EXPECT_EQ(found, expected);
  EXPECT_EQ(CountSegmentMembers(reader, "").value(), (std::map<std::string, int64_t>{{"vip", expected.size()}}));
  EXPECT_EQ(CountSegmentMembers(reader, "shop").value().at("vip"), in_shop);
}

TEST(ProfileSearch, MalformedCursorsAndProfilesAreErrors) {
  std::map<std::string, std::string> data = RandomProfiles(5, 3);
  const profiles::MapRangeReader reader(&data);
  MatchQuery query;
  for (const char* cursor : {"x", "p123", "p000100000000000g", "q0001000000000000", "p00010000000000000"}) {
    query.cursor = cursor;
    EXPECT_EQ(FindProfiles(reader, SegmentPredicate("vip"), query).status().code(), absl::StatusCode::kInvalidArgument)
        << cursor;
  }
  query.cursor.clear();
  data[absl::StrCat("pf/", BigEndian64(1))] = std::string("\xff\xff\xff", 3);
  EXPECT_EQ(FindProfiles(reader, SegmentPredicate("vip"), query).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ConditionJson, PrintsWhatTheParserReadsBack) {
  for (const char* text : {
           "{all: [{trait: gender, eq: female}, {trait: birthday, age_between: [25, 34]}, {computed: rfm_tier, in: "
           "[champions, loyal]}, {event: Order Completed, where: {category: coffee, channel: app}, count_gte: 3, "
           "count_lte: 9, within_days: 30}, {no_event: web.page, within_days: 60}]}",
           "{any: [{not: {trait: vip, exists: false}}, {trait: points, gt: 1.5}, {trait: code, eq: \"007\"}, "
           "{trait: tags, contains: 'a \"quoted\" tag'}]}",
           "{event: purchase.order}",
       }) {
    const profiles::Condition parsed = profiles::ParseCondition(text).value();
    const std::string json = ConditionToJson(parsed);
    absl::StatusOr<profiles::Condition> again = profiles::ParseCondition(json);
    ASSERT_TRUE(again.ok()) << json << ": " << again.status();
    EXPECT_EQ(ConditionToJson(*again), json);
    EXPECT_EQ(again->operands, parsed.operands);
  }
  EXPECT_EQ(ConditionToJson(profiles::ParseCondition("{trait: points, gte: 300}").value()),
            R"({"trait":"points","gte":300})");
  EXPECT_EQ(ConditionToJson(profiles::ParseCondition("{trait: code, eq: \"007\"}").value()),
            R"({"trait":"code","eq":"007"})");
}

TEST(StoreReaders, RocksReaderSeeksToTheStartAndStaysInThePrefix) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tessera-search-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    std::unique_ptr<RocksStore> store = RocksStore::Open(dir.string()).value();
    StagedWrites writes(store.get());
    for (int i = 0; i < 100; ++i) writes.Put(absl::StrCat("pf/", BigEndian64(i)), absl::StrCat("v", i));
    writes.Put("pe/", "before");
    writes.Put("pg/", "after");
    ASSERT_TRUE(writes.Commit().ok());
    const RocksRangeReader reader(store.get());
    std::vector<std::string> values;
    auto collect = [&](std::string_view, std::string_view value) {
      values.emplace_back(value);
      return values.size() < 5;
    };
    ASSERT_TRUE(reader.Scan("pf/", absl::StrCat("pf/", BigEndian64(97)), collect).ok());
    EXPECT_EQ(values, (std::vector<std::string>{"v97", "v98", "v99"}));
    values.clear();
    ASSERT_TRUE(reader.Scan("pf/", "", collect).ok());  // a start before the prefix: from its first key
    EXPECT_EQ(values, (std::vector<std::string>{"v0", "v1", "v2", "v3", "v4"}));
    values.clear();
    ASSERT_TRUE(store->ScanFrom("pf/", absl::StrCat("pf/", BigEndian64(50), "x"), collect).ok());
    EXPECT_EQ(values.front(), "v51") << "a start between keys seeks to the next one";
    values.clear();
    ASSERT_TRUE(store->ScanFrom("pf/", "pf0", collect).ok());
    EXPECT_TRUE(values.empty()) << "a start past the prefix visits nothing";
  }
  std::filesystem::remove_all(dir);
}

TEST(StoreReaders, SeveralStoresScanAsOneKeyOrder) {
  // Ids dealt at random to three stores, more than a chunk each, so the merge refills.
  std::map<std::string, std::string> stores[3];
  std::map<std::string, std::string> all;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 4000; ++i) {
    const std::string key = absl::StrCat("pf/", BigEndian64(rng() % 100'000));
    if (!all.emplace(key, key).second) continue;  // each profile lives in one store
    stores[rng() % 3][key] = key;
  }
  for (auto& store : stores) store["zz/"] = "other prefix";
  const profiles::MapRangeReader a(&stores[0]), b(&stores[1]), c(&stores[2]);
  const StoreSetReader set({&a, &b, &c});
  for (const std::string& start : {std::string(""), all.begin()->first, std::next(all.begin(), 1500)->first,
                                   absl::StrCat("pf/", BigEndian64(99'999), "\xff")}) {
    std::vector<std::string> expected;
    for (auto it = all.lower_bound(start); it != all.end(); ++it) expected.push_back(it->first);
    std::vector<std::string> seen;
    ASSERT_TRUE(set.Scan("pf/", start, [&](std::string_view key, std::string_view value) {
                     EXPECT_EQ(key, value);
                     seen.emplace_back(key);
                     return true;
                   }).ok());
    EXPECT_EQ(seen, expected);
  }
  std::vector<std::string> head;
  for (auto it = all.begin(); head.size() < 10; ++it) head.push_back(it->first);
  std::vector<std::string> first;
  ASSERT_TRUE(set.Scan("pf/", "", [&](std::string_view key, std::string_view) {
                   first.emplace_back(key);
                   return first.size() < 10;
                 }).ok());
  EXPECT_EQ(first, head) << "stops when told";
}

}  // namespace
}  // namespace tessera::query
