// tessera-gen: writes a synthetic population as NDJSON per raw topic plus its ground truth.
//
//   tessera-gen --people 1000 --seed 7 --out /tmp/pop [--base-time-ms 1711929600000]
//
// DIR/web.ndjson, DIR/social.ndjson, DIR/purchase.ndjson (one message per line, ordered by event
// time) and DIR/expected.json (tests/fakes/population.h's ExpectedProfile objects as an array).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/fakes/population.h"

namespace {

constexpr std::string_view kUsage =
    "usage: tessera-gen --people N --seed S --out DIR [--base-time-ms T]\n"
    "  writes DIR/{web,social,purchase}.ndjson and DIR/expected.json\n"
    "  T defaults to 1711929600000 (2024-04-01T00:00:00Z); events span the 30 days after it\n";

// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0).
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int Fail(std::string_view message) {
  std::fprintf(stderr, "tessera-gen: %.*s\n%.*s", static_cast<int>(message.size()), message.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  return 2;
}

bool WriteFile(const std::filesystem::path& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "tessera-gen: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int people = -1;
  uint64_t seed = 0;
  bool have_seed = false;
  int64_t base_time_ms = 1711929600000;  // 2024-04-01T00:00:00Z
  std::string out_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (i + 1 >= argc) return Fail(absl::StrCat("missing value for ", Absl(flag)));
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--people") {
      ok = absl::SimpleAtoi(Absl(value), &people) && people >= 0;
    } else if (flag == "--seed") {
      ok = absl::SimpleAtoi(Absl(value), &seed);
      have_seed = ok;
    } else if (flag == "--base-time-ms") {
      ok = absl::SimpleAtoi(Absl(value), &base_time_ms);
    } else if (flag == "--out") {
      out_dir = std::string(value);
    } else {
      return Fail(absl::StrCat("unknown flag ", Absl(flag)));
    }
    if (!ok) return Fail(absl::StrCat("bad value for ", Absl(flag), ": ", Absl(value)));
  }
  if (people < 0) return Fail("--people is required");
  if (!have_seed) return Fail("--seed is required");
  if (out_dir.empty()) return Fail("--out is required");

  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) return Fail(absl::StrCat("cannot create ", out_dir, ": ", error.message()));

  const tessera::testing::Population population = tessera::testing::GeneratePopulation(seed, people, base_time_ms);
  const std::filesystem::path dir(out_dir);
  using tessera::v1::CHANNEL_PURCHASE;
  using tessera::v1::CHANNEL_SOCIAL;
  using tessera::v1::CHANNEL_WEB;
  if (!WriteFile(dir / "web.ndjson", tessera::testing::ToNdjson(population.records, CHANNEL_WEB)) ||
      !WriteFile(dir / "social.ndjson", tessera::testing::ToNdjson(population.records, CHANNEL_SOCIAL)) ||
      !WriteFile(dir / "purchase.ndjson", tessera::testing::ToNdjson(population.records, CHANNEL_PURCHASE)) ||
      !WriteFile(dir / "expected.json", tessera::testing::ExpectedProfilesToJson(population.people) + "\n")) {
    return 1;
  }
  std::fprintf(stderr, "tessera-gen: %d people, %zu records -> %s\n", people, population.records.size(),
               out_dir.c_str());
  return 0;
}
