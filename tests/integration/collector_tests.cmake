# The collector with real client libraries (included from tests/integration/CMakeLists.txt).
# `npm ci` installs the pinned, unmodified SDKs of tests/integration/node (package-lock.json) before
# the tests that need them; it needs the npm registry, so it carries the kafka label with them.
add_test(NAME collector_node_npm_ci
         COMMAND npm ci --no-audit --no-fund
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration/node)
# Part of the `kafka` fixture's setup (a second fixture name would need a ';' inside the
# gtest_discover_tests properties, which CMake splits).
set_tests_properties(collector_node_npm_ci PROPERTIES FIXTURES_SETUP kafka LABELS kafka TIMEOUT 300)

tessera_test(collector_node_e2e_test
  SOURCES collector_node_e2e_test.cc child_process.cc
  LIBS tessera_app simdjson::simdjson absl::strings
  PROPERTIES LABELS kafka FIXTURES_REQUIRED kafka TIMEOUT 600 RUN_SERIAL TRUE
             ENVIRONMENT TESSERA_TEST_BROKERS=127.0.0.1:19092)
target_compile_definitions(collector_node_e2e_test PRIVATE TESSERA_BIN="$<TARGET_FILE:tessera>"
                                                             TESSERA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(collector_node_e2e_test tessera)

# Write key -> workspace and source through the whole pipeline (Kafka headers), fused and
# distributed, and `tessera quality` over a live run's stores; librdkafka's mock cluster, in process.
tessera_test(collector_origin_test
  SOURCES collector_origin_test.cc child_process.cc
  LIBS tessera_app tessera_collector tessera_ingest_config simdjson::simdjson absl::strings
  PROPERTIES LABELS integration TIMEOUT 180)
target_compile_definitions(collector_origin_test PRIVATE TESSERA_BIN="$<TARGET_FILE:tessera>")
add_dependencies(collector_origin_test tessera)
