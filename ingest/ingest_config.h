// The `ingest:` section of the YAML configuration (`tessera run|ingest --config FILE`): the
// identifier blocklist and tracking plans, per workspace. The only ingest code that touches
// yaml-cpp; its exceptions stop here and come back as a Status. docs/data-quality.md documents
// every key.
//
//   ingest:
//     blocklist:
//       use_defaults: true                    # false: start from an empty blocklist
//       values: {"*": ["n/a"], email: ["info@baankafe.co.th"]}     # added to the defaults
//       patterns: {email: ['.*@mailinator\.com']}                  # ECMAScript, whole value
//     tracking_plans:
//       web:                                  # a source: web, social, purchase, or a custom name
//         mode: strip                         # reject | strip | flag
//         events:                             # track events; absent: any
//           "Order Completed":
//             properties: {order_id: string, revenue: number}   # absent: any properties
//             required: [order_id]
//           "Product Viewed": {}
//         traits: [email, phone, name]        # absent: any traits
//     phone_regions: {line-oa: TH, uk-shop: GB, "*": TH}   # by source; else --phone-region
//     workspaces:
//       shop-b:                               # starts from everything above
//         blocklist: {values: {email: ["shop@shop-b.co.th"]}}   # added to the inherited list
//         tracking_plans: {social: {mode: flag, traits: [email]}}  # replaces that source's plan
//         phone_regions: {web: GB}            # added to (and overriding) the inherited regions
//
// A file without an `ingest:` key gives the defaults; unknown keys are an error. Plain functions;
// safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ingest/cleaning.h"

namespace tessera::ingest {

// InvalidArgument for YAML that does not parse or does not describe ingest's settings (with the
// key path), or a bad regex.
absl::StatusOr<std::shared_ptr<const CleaningConfig>> ParseIngestConfig(std::string_view yaml);
// NotFound when the file cannot be read; otherwise as ParseIngestConfig.
absl::StatusOr<std::shared_ptr<const CleaningConfig>> LoadIngestConfig(const std::string& path);

}  // namespace tessera::ingest
