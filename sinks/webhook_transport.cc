// WebhookTransport (see transport.h): libcurl multi, one easy handle per request.
#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sinks/destination_filter.h"
#include "sinks/signature.h"
#include "sinks/transport.h"

namespace tessera::sinks {
namespace {

void GlobalCurlInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Request {
  uint64_t id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  std::string response;  // first bytes of the response body, for the error text
  int64_t retry_after_ms = -1;
};

size_t OnBody(char* data, size_t size, size_t count, void* opaque) {
  auto* request = static_cast<Request*>(opaque);
  const size_t n = size * count;
  if (request->response.size() < 200) request->response.append(data, std::min<size_t>(n, 200));
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* opaque) {
  auto* request = static_cast<Request*>(opaque);
  const size_t n = size * count;
  std::string_view line(data, n);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() &&
      absl::AsciiStrToLower(std::string(line.substr(0, kRetryAfter.size()))) == kRetryAfter) {
    std::string_view value = line.substr(kRetryAfter.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    int64_t seconds = 0;
    // Only delta-seconds; an HTTP-date falls back to the computed backoff.
    if (std::from_chars(value.data(), value.data() + value.size(), seconds).ec == std::errc() && seconds >= 0) {
      request->retry_after_ms = seconds * 1000;
    }
  }
  return n;
}

class WebhookTransport final : public Transport {
 public:
  explicit WebhookTransport(const DestinationConfig& destination) : destination_(destination) {
    GlobalCurlInit();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(destination_.max_in_flight));
  }
  ~WebhookTransport() override {
    for (auto& [easy, request] : requests_) Release(*request);
    curl_multi_cleanup(multi_);
  }

  void Send(uint64_t request_id, const std::vector<OutgoingItem>& items) override {
    auto request = std::make_unique<Request>();
    request->id = request_id;
    std::vector<const std::string*> jsons;
    jsons.reserve(items.size());
    for (const OutgoingItem& item : items) jsons.push_back(&item.json);
    request->body = RenderBatch(destination_.name, jsons);
    const int64_t timestamp = absl::ToUnixSeconds(absl::Now());
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, absl::StrCat("X-Tessera-Timestamp: ", timestamp).c_str());
    headers = curl_slist_append(
        headers,
        absl::StrCat("X-Tessera-Signature: ", SignatureHeaderValue(destination_.secret, timestamp, request->body))
            .c_str());
    if (items.size() == 1) {
      headers = curl_slist_append(headers, absl::StrCat("Idempotency-Key: ", items[0].idempotency_key).c_str());
    }
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    request->headers = headers;
    CURL* easy = curl_easy_init();
    request->easy = easy;
    curl_easy_setopt(easy, CURLOPT_URL, destination_.url.c_str());
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request->body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(destination_.timeout_ms));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(destination_.timeout_ms, 5000)));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, request.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, request.get());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "tessera-sinks/1");
    // curl writes at most one upload buffer (64 KiB by default) per curl_multi_perform, so a batch
    // of a few hundred KB took several turns of the worker's loop: with 1 MiB (curl's max is 2)
    // a batch leaves in one. sinks-bench: 50k -> 68-82k changes/s (docs/sinks.md).
    curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
    curl_multi_add_handle(multi_, easy);
    requests_.emplace(easy, std::move(request));
  }

  std::vector<SendResult> Poll(absl::Duration max_wait) override {
    std::vector<SendResult> out;
    int running = 0;
    curl_multi_perform(multi_, &running);
    Collect(out);
    if (out.empty() && !requests_.empty()) {
      curl_multi_poll(multi_, nullptr, 0, static_cast<int>(absl::ToInt64Milliseconds(max_wait)), nullptr);
      curl_multi_perform(multi_, &running);
      Collect(out);
    } else if (requests_.empty() && max_wait > absl::ZeroDuration()) {
      absl::SleepFor(std::min(max_wait, absl::Milliseconds(5)));
    }
    return out;
  }

  size_t in_flight() const override { return requests_.size(); }

 private:
  void Collect(std::vector<SendResult>& out) {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      auto it = requests_.find(message->easy_handle);
      if (it == requests_.end()) continue;
      Request& request = *it->second;
      SendResult result;
      result.request_id = request.id;
      if (message->data.result != CURLE_OK) {
        result.outcome = SendResult::Outcome::kRetry;
        result.error = absl::StrCat("curl: ", curl_easy_strerror(message->data.result));
      } else {
        long status = 0;
        curl_easy_getinfo(request.easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
          result.outcome = SendResult::Outcome::kDelivered;
        } else {
          const bool retryable = status == 408 || status == 429 || status >= 500;
          result.outcome = retryable ? SendResult::Outcome::kRetry : SendResult::Outcome::kPermanent;
          result.retry_after_ms = request.retry_after_ms;
          result.error = absl::StrCat("HTTP ", status, ": ", request.response);
        }
      }
      out.push_back(std::move(result));
      curl_multi_remove_handle(multi_, request.easy);
      Release(request);
      requests_.erase(it);
    }
  }

  static void Release(Request& request) {
    curl_easy_cleanup(request.easy);
    curl_slist_free_all(request.headers);
  }

  const DestinationConfig destination_;
  CURLM* multi_ = nullptr;
  std::map<CURL*, std::unique_ptr<Request>> requests_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeWebhookTransport(const DestinationConfig& destination) {
  if (destination.url.rfind("http://", 0) != 0 && destination.url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("webhook ", destination.name, ": url must be http(s)://"));
  }
  return std::unique_ptr<Transport>(new WebhookTransport(destination));
}

}  // namespace tessera::sinks
