#include "profiles/query/export.h"

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/currency.h"
#include "profiles/order_totals.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "profiles/query/masking.h"

namespace tessera::query {
namespace {

constexpr size_t kCurrencySample = 1000;
constexpr size_t kBatch = 2000;           // profiles rendered per task
constexpr size_t kBatchesInFlight = 4;    // bounds memory: about 4 x 2,000 profiles' JSON
const char* const kIdentifierColumns[] = {"user_id", "anonymous_id", "email", "phone", "loyalty_id"};
const char* const kTraitColumns[] = {"name", "first_name", "last_name", "city"};

void AppendUtf8(uint32_t code, std::string& out) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// A trait's canonical JSON as a CSV cell: a JSON string becomes its text, anything else stays JSON.
std::string TraitCell(const std::string& json) {
  if (json.size() < 2 || json.front() != '"' || json.back() != '"') return json;
  std::string out;
  for (size_t i = 1; i + 1 < json.size(); ++i) {
    if (json[i] != '\\') {
      out.push_back(json[i]);
      continue;
    }
    if (++i + 1 >= json.size()) return json;
    switch (json[i]) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t& code) {
          if (at + 4 > json.size() - 1) return false;
          code = 0;
          for (size_t k = at; k < at + 4; ++k) {
            const char c = json[k];
            const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0) return false;
            code = code * 16 + static_cast<uint32_t>(v);
          }
          return true;
        };
        uint32_t code = 0;
        if (!hex4(i + 1, code)) return json;
        i += 4;
        if (code >= 0xD800 && code < 0xDC00 && i + 2 < json.size() && json[i + 1] == '\\' && json[i + 2] == 'u') {
          uint32_t low = 0;
          if (hex4(i + 3, low) && low >= 0xDC00 && low < 0xE000) {
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
        }
        AppendUtf8(code, out);
        break;
      }
      default: out.push_back(json[i]);  // \" \\ \/
    }
  }
  return out;
}

void AppendCsvCell(std::string_view cell, std::string& line) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    line.append(cell);
    return;
  }
  line.push_back('"');
  for (char c : cell) {
    if (c == '"') line.push_back('"');
    line.push_back(c);
  }
  line.push_back('"');
}

std::string FormatTime(int64_t ms) {
  if (ms == 0) return "";
  return FormatUtcMillis(ms);
}

// Net spend per currency of orders currently completed (as ProfileToJson's total_spend).
// From the order totals: a profile that keeps its orders apart has none in the record.
std::map<std::string, int64_t> SpendByCurrency(const v1::Profile& profile) {
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = profiles::OrderTotalsOf(profile, scratch);
  return std::map<std::string, int64_t>(totals.spend().begin(), totals.spend().end());
}

std::string FormatSpend(const std::string& currency, int64_t minor_units) {
  const std::optional<int> exponent = CurrencyExponent(currency);
  return exponent.has_value() ? FormatMinorUnits(minor_units, *exponent) : std::to_string(minor_units);
}

// CSV lines for a fixed set of spend currencies. Immutable: rows are rendered on several threads.
class CsvFormat {
 public:
  explicit CsvFormat(std::vector<std::string> currencies) : currencies_(std::move(currencies)) {}

  std::string Header() const {
    std::string line = "id,workspace";
    for (const char* column : kIdentifierColumns) absl::StrAppend(&line, ",", column);
    line += ",other_identifiers";
    for (const char* column : kTraitColumns) absl::StrAppend(&line, ",", column);
    line += ",first_seen,last_seen,events_web,events_social,events_purchase,orders_count,refunds_count,cancelled_count";
    for (const std::string& currency : currencies_) absl::StrAppend(&line, ",spend_", currency);
    line += ",total_spend,merged_from_count\n";
    return line;
  }

  void AppendRow(const v1::Profile& profile, std::string& out) const {
    std::string line = absl::StrCat(profile.id(), ",");
    AppendCsvCell(profile.workspace(), line);
    std::map<std::string, std::vector<std::string>> by_type;
    std::vector<std::string> other;
    for (const std::string& identifier : profile.identifiers()) {
      const size_t colon = identifier.find(':');
      const std::string type = identifier.substr(0, colon);
      bool known = false;
      for (const char* column : kIdentifierColumns) known = known || type == column;
      if (known && colon != std::string::npos) {
        by_type[type].push_back(identifier.substr(colon + 1));
      } else {
        other.push_back(identifier);
      }
    }
    for (const char* column : kIdentifierColumns) {
      line.push_back(',');
      AppendCsvCell(absl::StrJoin(by_type[column], "|"), line);
    }
    line.push_back(',');
    AppendCsvCell(absl::StrJoin(other, "|"), line);
    for (const char* column : kTraitColumns) {
      line.push_back(',');
      auto it = profile.traits().find(column);
      if (it != profile.traits().end()) AppendCsvCell(TraitCell(it->second.json()), line);
    }
    auto count = [&](const char* channel) {
      auto it = profile.event_counts().find(channel);
      return it == profile.event_counts().end() ? int64_t{0} : it->second;
    };
    v1::OrderTotals scratch;
    const v1::OrderTotals& totals = profiles::OrderTotalsOf(profile, scratch);
    const int64_t orders = totals.completed(), refunds = totals.refunded(), cancelled = totals.cancelled();
    absl::StrAppend(&line, ",", FormatTime(profile.first_seen_ms()), ",", FormatTime(profile.last_seen_ms()), ",",
                    count("web"), ",", count("social"), ",", count("purchase"), ",", orders, ",", refunds, ",",
                    cancelled);
    const std::map<std::string, int64_t> spend = SpendByCurrency(profile);
    for (const std::string& currency : currencies_) {
      auto it = spend.find(currency);
      absl::StrAppend(&line, ",", it == spend.end() ? FormatSpend(currency, 0) : FormatSpend(currency, it->second));
    }
    std::string total = "{";
    for (const auto& [currency, minor] : spend) {
      if (total.size() > 1) total += ",";
      absl::StrAppend(&total, "\"", currency, "\":\"", FormatSpend(currency, minor), "\"");
    }
    total += "}";
    line.push_back(',');
    AppendCsvCell(total, line);
    absl::StrAppend(&line, ",", profile.merged_from_size(), "\n");
    out.append(line);
  }

 private:
  const std::vector<std::string> currencies_;
};

}  // namespace

absl::StatusOr<ExportFormat> ExportFormatFromName(std::string_view name) {
  if (name == "ndjson") return ExportFormat::kNdjson;
  if (name == "csv") return ExportFormat::kCsv;
  return absl::InvalidArgumentError(absl::StrCat("--format: ndjson or csv, got '", AbslView(name), "'"));
}

absl::StatusOr<int64_t> ExportProfiles(const profiles::KeyRangeReader& reader, const ExportOptions& options,
                                       std::ostream& out, const std::function<void(int64_t)>& progress) {
  // This thread scans and selects; batches of serialized profiles are decoded and rendered on
  // other threads (the bulk of the work), and written here in scan order.
  std::shared_ptr<const CsvFormat> csv;
  if (options.format == ExportFormat::kCsv && !options.currencies.empty()) {
    csv = std::make_shared<const CsvFormat>(options.currencies);
    out << csv->Header();
  }
  // Profiles as stored, with the ids their keys name (the stored bytes leave the id out).
  std::vector<std::pair<uint64_t, std::string>> batch;
  std::deque<std::future<absl::StatusOr<std::string>>> rendering;
  absl::Status error;
  auto write_oldest = [&] {
    absl::StatusOr<std::string> chunk = rendering.front().get();
    rendering.pop_front();
    if (!chunk.ok()) {
      if (error.ok()) error = chunk.status();
      return;
    }
    out.write(chunk->data(), static_cast<std::streamsize>(chunk->size()));
    if (!out && error.ok()) error = absl::UnavailableError("the output stream failed (disk full?)");
  };
  auto submit = [&] {
    if (batch.empty()) return;
    if (options.format == ExportFormat::kCsv && csv == nullptr) {
      // The spend columns are the currencies of the first profiles.
      std::set<std::string> currencies;
      v1::Profile profile;
      for (const auto& [id, value] : batch) {
        if (!profiles::ParseStoredProfile(id, value, profile)) continue;  // reported when the batch is rendered
        for (const auto& [currency, minor] : SpendByCurrency(profile)) currencies.insert(currency);
      }
      csv = std::make_shared<const CsvFormat>(std::vector<std::string>(currencies.begin(), currencies.end()));
      out << csv->Header();
    }
    rendering.push_back(std::async(std::launch::async, [values = std::move(batch), csv, &options]()
                                                           -> absl::StatusOr<std::string> {
      std::string chunk;
      v1::Profile profile;
      for (const auto& [id, value] : values) {
        if (!profiles::ParseStoredProfile(id, value, profile)) {
          return absl::DataLossError(absl::StrCat("an undecodable profile, id ", id));
        }
        if (options.mask_pii) MaskProfile(profile);
        if (csv != nullptr) {
          csv->AppendRow(profile, chunk);
        } else {
          chunk += profiles::ProfileToJson(profile);
          chunk.push_back('\n');
        }
      }
      return chunk;
    }));
    batch = std::vector<std::pair<uint64_t, std::string>>();
    batch.reserve(kBatch);
    if (rendering.size() >= kBatchesInFlight) write_oldest();
  };
  int64_t written = 0;
  absl::Status scan = ForEachMatch(reader, options.filter, options.workspace, [&](std::string_view key, std::string_view value) {
    batch.emplace_back(profiles::ProfileIdOfKey(key).value_or(0), value);
    ++written;
    if (batch.size() == (csv == nullptr && options.format == ExportFormat::kCsv ? kCurrencySample : kBatch)) submit();
    if (progress && written % 10'000 == 0) progress(written);
    return error.ok();
  });
  submit();
  while (!rendering.empty()) write_oldest();
  if (!scan.ok()) return scan;
  if (!error.ok()) return error;
  if (options.format == ExportFormat::kCsv && csv == nullptr) out << CsvFormat({}).Header();  // nothing to export
  out.flush();
  if (!out) return absl::UnavailableError("the output stream failed (disk full?)");
  if (progress) progress(written);
  return written;
}

}  // namespace tessera::query
