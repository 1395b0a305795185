// Bulk export of profiles for notebooks and warehouses: NDJSON (one profile JSON per line, the
// shape of docs/profile.md) or CSV with flat columns (docs/query-api.md lists them):
//
//   id, workspace, user_id, anonymous_id, email, phone, loyalty_id, other_identifiers,
//   name, first_name, last_name, city, first_seen, last_seen, events_web, events_social,
//   events_purchase, orders_count, refunds_count, cancelled_count, spend_<CUR>..., total_spend,
//   merged_from_count
//
// A column of an identifier type holds its values joined by '|' (a profile may hold several
// anonymous ids); the spend columns are one per currency (ExportOptions::currencies, or the
// currencies of the first 1,000 profiles exported), and total_spend keeps every currency as JSON.
// Output is RFC 4180 CSV (quoted where needed, UTF-8), which DuckDB and pandas read unmodified.
//
// Thread-safety: a plain function over the caller's reader and stream, both used only from the
// calling thread; it decodes and renders profiles on helper threads it joins before returning.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "profiles/event_store.h"
#include "profiles/query/profile_search.h"

namespace tessera::query {

enum class ExportFormat { kNdjson, kCsv };

struct ExportOptions {
  ExportFormat format = ExportFormat::kNdjson;
  std::string workspace;                // "" exports every workspace
  std::vector<std::string> currencies;  // CSV spend columns; empty: from the first profiles
  bool mask_pii = false;                // mask as the API does without read_pii (masking.h)
  ProfilePredicate filter;              // which profiles (a segment's members, a --filter); empty: all
};

// Streams every stored profile that options.filter matches to `out`; calls `progress` with the
// count so far every 10,000 profiles. Returns how many were written. DataLoss for an undecodable profile; Unavailable if the
// stream fails.
absl::StatusOr<int64_t> ExportProfiles(const profiles::KeyRangeReader& reader, const ExportOptions& options,
                                       std::ostream& out, const std::function<void(int64_t)>& progress = {});

// "ndjson" / "csv"; InvalidArgument otherwise.
absl::StatusOr<ExportFormat> ExportFormatFromName(std::string_view name);

}  // namespace tessera::query
