#include "common/identifier.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace tessera {

std::string FormatIdentifier(const v1::Identifier& id) { return absl::StrCat(id.type(), ":", id.value()); }

absl::StatusOr<v1::Identifier> ParseIdentifier(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("identifier must be TYPE:VALUE (e.g. email:someone@example.com), got '", AbslView(text), "'"));
  }
  return MakeIdentifier(text.substr(0, colon), text.substr(colon + 1));
}

v1::Identifier MakeIdentifier(std::string_view type, std::string_view value) {
  v1::Identifier id;
  id.set_type(std::string(type));
  id.set_value(std::string(value));
  return id;
}

}  // namespace tessera
