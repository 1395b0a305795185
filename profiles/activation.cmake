# Segments and time triggers (issue 5): the condition language, segment membership, the timer
# index. A separate target from tessera_profiles so only the profile stage links yaml-cpp and
# simdjson for them.
add_library(tessera_activation STATIC conditions.cc segments.cc triggers.cc)
target_link_libraries(tessera_activation
  PUBLIC tessera_common tessera_proto tessera_order_totals absl::time absl::status absl::statusor
  PRIVATE tessera_warnings yaml-cpp simdjson::simdjson absl::strings absl::flat_hash_set)
