// The Segment tracking API as plain functions, without sockets or Kafka: which endpoint a path is,
// who is sending (write key from HTTP Basic or the body), whether the request and each message are
// within the limits and well formed, and the enriched JSON record each message becomes on its
// source's raw topic (receivedAt, client IP, corrected timestamp, a messageId when absent).
// collector_server.cc puts this behind HTTP; tests call it directly.
//
// Thread-safety: a SegmentApi is immutable after construction except its RateLimiter, which
// locks; Prepare() may be called from many threads at once (each uses a thread-local parser).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/kafka.h"
#include "ingest/collector/collector_config.h"
#include "ingest/collector/rate_limiter.h"

namespace tessera::collector {

// Segment's documented limits (segment-api.md D3).
struct Limits {
  size_t max_message_bytes = 32 * 1024;
  size_t max_batch_bytes = 500 * 1024;
  size_t max_batch_messages = 2500;
  size_t max_message_id_chars = 100;
};

// Machine-readable reasons in error bodies (`"reason"`). Stable: clients may match on them.
inline constexpr std::string_view kReasonInvalidJson = "invalid_json";
inline constexpr std::string_view kReasonBadGzip = "bad_gzip";
inline constexpr std::string_view kReasonUnsupportedEncoding = "unsupported_encoding";
inline constexpr std::string_view kReasonMessageTooLarge = "message_too_large";
inline constexpr std::string_view kReasonBatchTooLarge = "batch_too_large";
inline constexpr std::string_view kReasonTooManyMessages = "too_many_messages";
inline constexpr std::string_view kReasonEmptyBatch = "empty_batch";
inline constexpr std::string_view kReasonMissingField = "missing_field";
inline constexpr std::string_view kReasonUnknownType = "unknown_type";
inline constexpr std::string_view kReasonInvalidField = "invalid_field";
inline constexpr std::string_view kReasonInvalidTimestamp = "invalid_timestamp";
inline constexpr std::string_view kReasonNoIdentifier = "no_identifier";
inline constexpr std::string_view kReasonInvalidMessages = "invalid_messages";
inline constexpr std::string_view kReasonNoWriteKey = "no_write_key";
inline constexpr std::string_view kReasonUnknownWriteKey = "unknown_write_key";
inline constexpr std::string_view kReasonRateLimited = "rate_limited";
inline constexpr std::string_view kReasonKafkaUnavailable = "kafka_unavailable";
inline constexpr std::string_view kReasonNotFound = "not_found";

enum class Endpoint { kTrack, kIdentify, kPage, kScreen, kGroup, kAlias, kBatch, kImport };

// "/v1/track", "/v1/t", "/v1/batch", "/v1/b", "/v1/import", … (a trailing '/' and a query string
// are ignored). nullopt for any other path.
std::optional<Endpoint> EndpointFromPath(std::string_view path);

struct HttpRequestView {
  std::string_view path;
  std::string_view authorization;     // the Authorization header, "" when absent
  std::string_view content_encoding;  // "", "gzip", "identity", …
  std::string_view body;
  std::string_view peer_ip;           // the TCP peer
  std::string_view forwarded_for;     // X-Forwarded-For, "" when absent
  // True when at least kBodyPadding readable bytes follow `body` in memory (the server pads its
  // input buffer): simdjson then parses the body in place instead of copying it into a padded buffer
  // of its own, a copy of the whole body a request.
  bool body_padded = false;
};

// How many readable bytes a padded body has after its end (simdjson's SIMDJSON_PADDING).
inline constexpr size_t kBodyPadding = 64;

struct HttpReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type and CORS
};

// The bytes of one request's records, in a few blocks freed together: a batch's hundred records
// were a hundred allocations (and as many keys), made on an io thread and freed with the request.
// What Keep returns stays valid as long as this lives, moves included; not copyable.
class RecordBytes {
 public:
  // A block holds about twenty records. Under jemalloc's 14 KiB limit of small sizes on purpose:
  // those come from the thread's cache; one block for a whole batch (75 KB) was a large allocation
  // each request, and the collector ran slower with it than with a small one a record.
  static constexpr size_t kBlockBytes = 12 * 1024;

  RecordBytes() = default;
  // A moved-from RecordBytes is empty: it does not keep writing into the blocks it gave away.
  RecordBytes(RecordBytes&& other) noexcept
      : blocks_(std::move(other.blocks_)),
        free_(std::exchange(other.free_, nullptr)),
        left_(std::exchange(other.left_, 0)),
        first_block_(other.first_block_) {}
  RecordBytes& operator=(RecordBytes&& other) noexcept {
    blocks_ = std::move(other.blocks_);
    free_ = std::exchange(other.free_, nullptr);
    left_ = std::exchange(other.left_, 0);
    first_block_ = other.first_block_;
    return *this;
  }

  // The first block holds `bytes` (at most kBlockBytes): a single-message request needs one record's
  // worth, not twenty.
  void SizeFirstBlock(size_t bytes) { first_block_ = std::min(bytes, kBlockBytes); }

  // A copy of `bytes`, alive as long as this (a record larger than a block gets one of its own).
  std::string_view Keep(std::string_view bytes);

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* free_ = nullptr;
  size_t left_ = 0;
  size_t first_block_ = kBlockBytes;
};

// Views of the request's RecordBytes (PreparedRequest::bytes).
struct OutgoingRecord {
  v1::Channel channel = v1::CHANNEL_WEB;
  std::string_view key;    // userId, else anonymousId: one person's events stay in one partition
  std::string_view value;  // the enriched message, compact JSON
};

// What to do with one request: produce `records` and, once Kafka acknowledged all of them, answer
// `reply` (200, or 400/413 when some messages of a batch were rejected and the rest accepted);
// with no records, answer `reply` at once.
struct PreparedRequest {
  std::vector<OutgoingRecord> records;
  HttpReply reply;
  // Every record's Kafka headers, tessera-workspace and tessera-source: a request has one write key,
  // so one source (kept once a request, not made and freed for each of up to 2,500 records).
  std::vector<KafkaHeader> headers;
  RecordBytes bytes = {};  // the records' keys and values
};

class SegmentApi {
 public:
  SegmentApi(CollectorConfig config, Limits limits = {});

  PreparedRequest Prepare(Endpoint endpoint, const HttpRequestView& request, int64_t received_at_ms);

  const CollectorConfig& config() const { return config_; }
  const Limits& limits() const { return limits_; }

 private:
  const CollectorConfig config_;
  const Limits limits_;
  RateLimiter rate_limiter_;
};

// An error answer: {"success":false,"reason":…,"detail":…}.
HttpReply ErrorReply(int status, std::string_view reason, std::string_view detail);

// The write key of `Authorization: Basic base64(key:password)`; nullopt if the header is absent or
// not Basic. The password is ignored (Segment's is empty).
std::optional<std::string> WriteKeyFromBasicAuth(std::string_view authorization);

// The client's address: `peer_ip`, unless that is a trusted proxy; then the right-most address in
// X-Forwarded-For that is not a trusted proxy (the left-most if all are).
std::string ClientIp(std::string_view peer_ip, std::string_view forwarded_for,
                     const absl::flat_hash_set<std::string>& trusted_proxies);

// Inflates a gzip (or zlib) body. InvalidArgument for corrupt data; ResourceExhausted when the
// result would exceed `max_bytes` (checked while inflating, so a small bomb cannot blow up memory).
absl::StatusOr<std::string> Gunzip(std::string_view compressed, size_t max_bytes);

// RFC 3339 UTC with milliseconds: "2024-03-01T03:15:30.250Z".
std::string FormatTimestampMs(int64_t epoch_ms);

}  // namespace tessera::collector
