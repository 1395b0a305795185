// Helpers for end-to-end tests that run `tessera query` as a child process: files it writes into
// its data dir, read once they are there.
#pragma once

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "simdjson.h"

namespace tessera::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The first line of `path` once a process has written it (a port file, a brokers file), waiting up
// to 15 s; "" if it never came.
inline std::string WaitForLine(const std::string& path) {
  std::string line;
  for (int i = 0; i < 150 && line.empty(); ++i) {
    std::ifstream in(path);
    std::getline(in, line);
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return line;
}

// The query token `tessera query` keeps in DIR/credentials (made at its first start), or "".
inline std::string QueryTokenOf(const std::string& data_dir) {
  simdjson::dom::parser parser;
  simdjson::dom::element credentials;
  std::string_view token;
  if (parser.parse(ReadFile(data_dir + "/credentials")).get(credentials) != simdjson::SUCCESS ||
      credentials["query_token"].get(token) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(token);
}

}  // namespace tessera::testing
