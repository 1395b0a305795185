// Identifiers are written "type:value" outside protobuf (CLI, JSON, RocksDB keys).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera {

// "email:somchai@example.com". The type never contains ':'; the value may.
std::string FormatIdentifier(const v1::Identifier& id);

// Splits at the first ':'. InvalidArgument when either side is empty.
absl::StatusOr<v1::Identifier> ParseIdentifier(std::string_view text);

v1::Identifier MakeIdentifier(std::string_view type, std::string_view value);

}  // namespace tessera
