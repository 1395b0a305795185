// A minimal blocking HTTP/1.1 client for tests: one request per connection (Connection: close).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace tessera::testing {

struct HttpAnswer {
  int status = 0;       // 0 when the request could not be made
  std::string headers;  // the raw header block
  std::string body;

  // The value of header `name` (case-sensitive, as evhttp writes it), or "".
  std::string Header(const std::string& name) const {
    const std::string needle = "\r\n" + name + ": ";
    const size_t at = headers.find(needle);
    if (at == std::string::npos) return "";
    const size_t start = at + needle.size();
    return headers.substr(start, headers.find("\r\n", start) - start);
  }
};

inline HttpAnswer HttpRequest(int port, const std::string& method, const std::string& target,
                              const std::string& token = "", const std::string& body = "{}") {
  HttpAnswer answer;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return answer;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return answer;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += method == "POST" ? "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body : "\r\n";
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[16384];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) return answer;
  answer.status = std::stoi(raw.substr(9, 3));
  answer.headers = raw.substr(0, end + 2);
  answer.body = raw.substr(end + 4);
  return answer;
}

inline HttpAnswer HttpGet(int port, const std::string& target, const std::string& token = "") {
  return HttpRequest(port, "GET", target, token);
}

}  // namespace tessera::testing
