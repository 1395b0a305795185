// Debian's Abseil (20220623) is built with its own absl::string_view, not std::string_view
// (ABSL_OPTION_USE_STD_STRING_VIEW 0), so a std::string_view does not convert to it. Tessera's
// headers use std::string_view; this bridges the two at the call sites that need Abseil's.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace tessera {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdView(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace tessera
