// ISO 4217 currencies and exact decimal <-> minor-unit conversion. Money is never floating point.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tessera {

// Number of minor-unit digits of an active ISO 4217 alpha code (THB 2, JPY 0, KWD 3), or nullopt
// for a code that is not one. `code` must be upper case.
std::optional<int> CurrencyExponent(std::string_view code);

// Parses decimal text ("1250.5", "-3", "1e3" is rejected) exactly into minor units of a currency
// with `exponent` digits. InvalidArgument for more fractional digits than the currency has, for
// anything that is not a plain decimal, or for overflow.
absl::StatusOr<int64_t> ParseDecimalToMinorUnits(std::string_view text, int exponent);

// 125050 with exponent 2 -> "1250.50"; -5 with exponent 2 -> "-0.05"; 7 with exponent 0 -> "7".
std::string FormatMinorUnits(int64_t minor_units, int exponent);

}  // namespace tessera
