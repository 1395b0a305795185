#include "profiles/query/export.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/currency.h"
#include "profiles/profile_state.h"
#include "profiles/query/masking.h"

namespace tessera::query {
namespace {

constexpr size_t kCurrencySample = 1000;
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
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// Net spend per currency of orders currently completed (as ProfileToJson's total_spend).
std::map<std::string, int64_t> SpendByCurrency(const v1::Profile& profile) {
  std::map<std::string, int64_t> spend;
  for (const auto& [id, order] : profile.orders()) {
    if (order.status() == v1::ORDER_STATUS_COMPLETED) spend[order.total().currency()] += order.total().minor_units();
  }
  return spend;
}

std::string FormatSpend(const std::string& currency, int64_t minor_units) {
  const std::optional<int> exponent = CurrencyExponent(currency);
  return exponent.has_value() ? FormatMinorUnits(minor_units, *exponent) : std::to_string(minor_units);
}

class CsvWriter {
 public:
  CsvWriter(std::ostream& out, std::vector<std::string> currencies) : out_(out), currencies_(std::move(currencies)) {}

  bool header_written() const { return header_written_; }

  void WriteHeader() {
    std::string line = "id,workspace";
    for (const char* column : kIdentifierColumns) absl::StrAppend(&line, ",", column);
    line += ",other_identifiers";
    for (const char* column : kTraitColumns) absl::StrAppend(&line, ",", column);
    line += ",first_seen,last_seen,events_web,events_social,events_purchase,orders_count,refunds_count,cancelled_count";
    for (const std::string& currency : currencies_) absl::StrAppend(&line, ",spend_", currency);
    line += ",total_spend,merged_from_count\n";
    out_ << line;
    header_written_ = true;
  }

  void Write(const v1::Profile& profile) {
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
    int64_t orders = 0, refunds = 0, cancelled = 0;
    for (const auto& [id, order] : profile.orders()) {
      orders += order.status() == v1::ORDER_STATUS_COMPLETED;
      refunds += order.status() == v1::ORDER_STATUS_REFUNDED;
      cancelled += order.status() == v1::ORDER_STATUS_CANCELLED;
    }
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
    out_ << line;
  }

 private:
  std::ostream& out_;
  std::vector<std::string> currencies_;
  bool header_written_ = false;
};

}  // namespace

absl::StatusOr<ExportFormat> ExportFormatFromName(std::string_view name) {
  if (name == "ndjson") return ExportFormat::kNdjson;
  if (name == "csv") return ExportFormat::kCsv;
  return absl::InvalidArgumentError(absl::StrCat("--format: ndjson or csv, got '", AbslView(name), "'"));
}

absl::StatusOr<int64_t> ExportProfiles(const profiles::KeyRangeReader& reader, const ExportOptions& options,
                                       std::ostream& out, const std::function<void(int64_t)>& progress) {
  int64_t written = 0;
  absl::Status error;
  std::vector<v1::Profile> sample;  // CSV without given currencies: held until the header is known
  std::unique_ptr<CsvWriter> csv;
  if (options.format == ExportFormat::kCsv && !options.currencies.empty()) {
    csv = std::make_unique<CsvWriter>(out, options.currencies);
    csv->WriteHeader();
  }
  auto flush_sample = [&] {
    std::set<std::string> currencies;
    for (const v1::Profile& p : sample) {
      for (const auto& [currency, minor] : SpendByCurrency(p)) currencies.insert(currency);
    }
    csv = std::make_unique<CsvWriter>(out, std::vector<std::string>(currencies.begin(), currencies.end()));
    csv->WriteHeader();
    for (const v1::Profile& p : sample) csv->Write(p);
    sample.clear();
  };
  absl::Status scan = reader.Scan("pf/", "", [&](std::string_view key, std::string_view value) {
    v1::Profile profile;
    if (!profile.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      error = absl::DataLossError(absl::StrCat("undecodable profile under key of ", key.size(), " bytes"));
      return false;
    }
    if (!options.workspace.empty() && profile.workspace() != options.workspace) return true;
    if (options.mask_pii) MaskProfile(profile);
    if (options.format == ExportFormat::kNdjson) {
      std::string line = profiles::ProfileToJson(profile);
      line.push_back('\n');
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
    } else if (csv != nullptr) {
      csv->Write(profile);
    } else {
      sample.push_back(std::move(profile));
      if (sample.size() == kCurrencySample) flush_sample();
    }
    ++written;
    if (progress && written % 10'000 == 0) progress(written);
    if (!out) {
      error = absl::UnavailableError("the output stream failed (disk full?)");
      return false;
    }
    return true;
  });
  if (!scan.ok()) return scan;
  if (!error.ok()) return error;
  if (options.format == ExportFormat::kCsv && csv == nullptr) flush_sample();
  out.flush();
  if (!out) return absl::UnavailableError("the output stream failed (disk full?)");
  if (progress) progress(written);
  return written;
}

}  // namespace tessera::query
