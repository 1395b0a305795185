// One stage per process, connected by the intermediate topics (see docs/architecture.md):
//   raw.* -> ingest -> events -> identity -> resolved -> profiles -> profile-changes -> sinks -> profile-updates
// Replays after a crash are made harmless by each stateful stage: it remembers, per source raw
// partition, the highest raw offset it applied (in the same WriteBatch as the state) and skips
// anything at or below it. That holds because every hop keeps per-partition order (idempotent
// producer, one thread per consumer) and a raw partition's events reach a given downstream
// partition in raw-offset order.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "app/activation_driver.h"
#include "app/offsets.h"
#include "app/outputs.h"
#include "app/profile_batch.h"
#include "app/runner.h"
#include "app/topics.h"
#include "app/worker_loop.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "identity/identity_resolver.h"
#include "ingest/dedup.h"
#include "ingest/ingest.h"
#include "ingest/quality.h"
#include "profiles/event_store.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "sinks/profile_updates.h"

namespace tessera::app {

namespace {

// Watermark of raw offsets applied, per (scope, raw topic, raw partition).
std::string WatermarkKey(std::string_view scope, const v1::SourcePosition& source) {
  return absl::StrCat("wm/", AbslView(scope), "/", source.topic(), "/", source.partition());
}

// True if `source` is newer than what was applied (and records it as applied).
absl::StatusOr<bool> AdvanceWatermark(KeyValueView& state, std::string_view scope, const v1::SourcePosition& source) {
  const std::string key = WatermarkKey(scope, source);
  ASSIGN_OR_RETURN(std::optional<std::string> stored, state.Get(key));
  if (stored.has_value() && stored->size() == 8 &&
      static_cast<int64_t>(ReadBigEndian64(*stored)) >= source.offset()) {
    return false;
  }
  state.Put(key, BigEndian64(static_cast<uint64_t>(source.offset())));
  return true;
}

template <typename Message>
absl::StatusOr<Message> ParseProto(const KafkaMessage& m) {
  Message message;
  if (!message.ParseFromString(m.payload)) {
    // Our own topics carry only what our stages wrote: this is a broken invariant, not bad input.
    return absl::DataLossError(absl::StrCat("undecodable record at ", m.topic, "/", m.partition, "/", m.offset));
  }
  return message;
}

// The ingest stage's store holds only its quality counters (qc/): one per worker, so workers that
// share a consumer group (and a data dir) each have theirs. DIR/ingest, DIR/ingest-<instance id>,
// or DIR/ingest-p0-1 for a worker that owns partitions 0 and 1; `tessera quality` adds up every
// DIR/ingest*.
std::string IngestStorePath(const RunOptions& options) {
  if (!options.owned_partitions.empty()) {
    return absl::StrCat(options.data_dir, "/ingest-p", absl::StrJoin(options.owned_partitions, "-"));
  }
  if (!options.instance_id.empty()) return absl::StrCat(options.data_dir, "/ingest-", options.instance_id);
  return options.data_dir + "/ingest";
}

}  // namespace

absl::Status RunIngestStage(const RunOptions& options, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, OpenStageStore(IngestStorePath(options), options));
  const Topics topics(options.topic_prefix);
  ingest::EventParser parser(options.ingest);
  // A batch's counts are committed once its events are in Kafka: when the loop hands over the next
  // batch (it only does after a successful flush), or when it stops between batches. The stage's
  // offsets stay in Kafka (it scales by consumer group), so a crash or a rebalance between this
  // commit and the offset commit counts that batch again: at least once (docs/data-quality.md).
  const auto commit_counts = [&]() -> absl::Status {
    if (parser.quality().empty()) return absl::OkStatus();
    StagedWrites staged(store.get());
    RETURN_IF_ERROR(parser.quality().StageInto(&staged));
    return staged.Commit();
  };
  const BatchHandler handler = [&](const std::vector<KafkaMessage>& batch,
                                   KeyValueView*) -> absl::StatusOr<std::vector<OutputRecord>> {
    RETURN_IF_ERROR(commit_counts());
    std::vector<OutputRecord> out;
    out.reserve(batch.size());
    const int64_t now = SystemClock().NowMillis();
    for (const KafkaMessage& m : batch) {
      v1::SourcePosition source;
      source.set_topic(m.topic);
      source.set_partition(m.partition);
      source.set_offset(m.offset);
      ingest::ParseOutcome outcome =
          parser.Parse(topics.ChannelOf(m.topic), m.payload, source, now, ingest::OriginFromHeaders(m));
      if (auto* rejection = std::get_if<ingest::Rejection>(&outcome)) {
        out.push_back(DeadLetterOutput(topics, ingest::MakeDeadLetter(m.payload, source, *rejection, now)));
        continue;
      }
      const v1::Event& event = std::get<v1::Event>(outcome);
      // Keyed by workspace: one identity writer per workspace sees all of its events in order.
      out.push_back(OutputRecord{topics.events, event.workspace(), event.SerializeAsString(), {}});
    }
    return out;
  };
  WorkerLoopOptions loop{"ingest", options.topic_prefix + "ingest",
                         {topics.raw_web, topics.raw_social, topics.raw_purchase}, nullptr};
  RETURN_IF_ERROR(RunWorkerLoop(options, loop, handler, stop));
  return commit_counts();  // the last batch was flushed before the loop stopped
}

absl::Status RunIdentityStage(const RunOptions& options, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, OpenStageStore(IdentityStorePath(options.data_dir), options));
  const Topics topics(options.topic_prefix);
  // One fingerprint index for the store, across batches: the handler is called again only once
  // the previous batch committed or is committing while this one reads its writes (a failure ends
  // the loop, and the index with it).
  identity::FingerprintIndex index(options.identity_rules.fingerprint_index_entries());
  const BatchHandler handler = [&](const std::vector<KafkaMessage>& batch,
                                   KeyValueView* state) -> absl::StatusOr<std::vector<OutputRecord>> {
    index.MarkCommitted();
    // Profile ids carry the events partition in their top bits, so writers never collide.
    std::vector<OutputRecord> out;
    ingest::QualityCounters quality;  // duplicates counted here, where they are found
    for (const KafkaMessage& m : batch) {
      ASSIGN_OR_RETURN(v1::Event event, ParseProto<v1::Event>(m));
      ASSIGN_OR_RETURN(bool fresh, AdvanceWatermark(*state, "identity", event.source()));
      if (!fresh) continue;  // a replay of an event already resolved
      // Every event of a workspace meets here, whichever raw partition it came in on: the place
      // to drop a messageId seen before.
      if (options.dedup_window_ms > 0) {
        ingest::DuplicateFilter duplicates(state, options.dedup_window_ms);
        ASSIGN_OR_RETURN(bool duplicate, duplicates.SeenBefore(event.workspace(), event.message_id(),
                                                               event.received_at_ms()));
        if (duplicate) {
          ingest::CountDuplicateEvent(event, quality);
          continue;
        }
      }
      identity::IdentityResolver resolver(state, static_cast<uint16_t>(m.partition), &SystemClock(),
                                          options.identity_rules, &index);
      ASSIGN_OR_RETURN(identity::Resolution resolution, resolver.Resolve(event));
      identity::DropUnlinkedIdentifiers(resolution, event);
      for (const v1::MergeRecord& merge : resolution.merges) {
        // Keyed by the loser: it reaches the loser's profiles partition after all its events.
        v1::ResolvedRecord transfer;
        *transfer.mutable_transfer()->mutable_merge() = merge;
        out.push_back(OutputRecord{topics.resolved, sinks::ProfileKey(merge.loser()), transfer.SerializeAsString(), {}});
        out.push_back(MergeOutput(topics, merge));
      }
      v1::ResolvedRecord resolved;
      resolved.mutable_event()->set_profile_id(resolution.profile_id);
      *resolved.mutable_event()->mutable_event() = std::move(event);
      out.push_back(
          OutputRecord{topics.resolved, sinks::ProfileKey(resolution.profile_id), resolved.SerializeAsString(), {}});
    }
    RETURN_IF_ERROR(quality.StageInto(state));
    return out;
  };
  WorkerLoopOptions loop{"identity", options.topic_prefix + "identity", {topics.events}, store.get()};
  return RunWorkerLoop(options, loop, handler, stop);
}

absl::Status RunProfilesStage(const RunOptions& options, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, OpenStageStore(ProfilesStorePath(options.data_dir, options.owned_partitions), options));
  const Topics topics(options.topic_prefix);
  const std::shared_ptr<const profiles::ActivationEngine> activation =
      options.activation != nullptr ? options.activation
                                    : std::make_shared<const profiles::ActivationEngine>(profiles::ActivationConfig{});
  // Profile updates go to profile-changes (the sinks stage turns them into profile-updates);
  // segment changes and triggers are final and go straight to their topics.
  auto finish = [&](ProfileBatch& profiles, std::vector<OutputRecord>& out) -> absl::Status {
    profiles::ActivationOutputs changes;
    ASSIGN_OR_RETURN(ProfileUpdates updates, profiles.Finish(SystemClock().NowMillis(), &changes));
    AppendProfileChangeOutputs(topics, updates, out);
    for (const profiles::SegmentChange& c : changes.segment_changes) out.push_back(SegmentChangeOutput(topics, c));
    for (const profiles::TriggerFiring& t : changes.triggers) out.push_back(TriggerOutput(topics, t));
    return absl::OkStatus();
  };
  const BatchHandler handler = [&](const std::vector<KafkaMessage>& batch,
                                   KeyValueView* state) -> absl::StatusOr<std::vector<OutputRecord>> {
    profiles::ProfileStore profile_store(state);
    ProfileBatch profiles(&profile_store, activation.get(), state, options.computed_traits.get());
    profiles.set_incremental_segments(true);  // events fold only through ApplyEvent and RecordEvent
    std::vector<OutputRecord> out;
    auto forward = [&](uint64_t to, v1::ResolvedRecord record) {
      out.push_back(OutputRecord{topics.resolved, sinks::ProfileKey(to), record.SerializeAsString(), {}});
    };
    std::vector<v1::ResolvedRecord> records;
    records.reserve(batch.size());
    for (const KafkaMessage& m : batch) {
      ASSIGN_OR_RETURN(v1::ResolvedRecord record, ParseProto<v1::ResolvedRecord>(m));
      records.push_back(std::move(record));
    }
    // The batch's profiles, and the event keys StageEvent checks, in one MultiGet each rather than
    // a Get per event.
    std::vector<uint64_t> event_profiles;
    std::vector<std::pair<uint64_t, const v1::Event*>> events;
    std::vector<std::pair<uint64_t, std::string_view>> orders;
    event_profiles.reserve(records.size());
    events.reserve(records.size());
    for (const v1::ResolvedRecord& record : records) {
      if (!record.has_event()) continue;
      event_profiles.push_back(record.event().profile_id());
      events.emplace_back(record.event().profile_id(), &record.event().event());
      const std::string_view order_id = profiles::OrderIdOf(record.event().event());
      if (!order_id.empty()) orders.emplace_back(record.event().profile_id(), order_id);
    }
    RETURN_IF_ERROR(profiles.Prefetch(event_profiles));
    RETURN_IF_ERROR(profiles.PrefetchOrders(orders));
    RETURN_IF_ERROR(profiles::PrefetchEvents(state, events));
    for (size_t i = 0; i < batch.size(); ++i) {
      const KafkaMessage& m = batch[i];
      v1::ResolvedRecord& record = records[i];
      if (record.has_event()) {
        v1::ResolvedEvent& resolved = *record.mutable_event();
        ASSIGN_OR_RETURN(std::optional<uint64_t> merged_into, profiles.MergedInto(resolved.profile_id()));
        if (merged_into.has_value()) {
          // Identity resolves to roots, so this only happens to a record forwarded earlier.
          resolved.set_profile_id(*merged_into);
          forward(*merged_into, std::move(record));
          continue;
        }
        ASSIGN_OR_RETURN(bool fresh, AdvanceWatermark(*state, absl::StrCat("profiles/", m.partition),
                                                      resolved.event().source()));
        if (!fresh) continue;
        ASSIGN_OR_RETURN(v1::Profile * profile, profiles.Get(resolved.profile_id(), resolved.event().workspace()));
        RETURN_IF_ERROR(profiles.NeedOrdersOf(resolved.profile_id(), resolved.event()));
        profiles::ApplyEvent(resolved.event(), *profile, *options.computed_traits);
        RETURN_IF_ERROR(profiles::StageEvent(state, resolved.profile_id(), resolved.event()));
        profiles.RecordEvent(resolved.profile_id(), resolved.event(), SystemClock().NowMillis());
        continue;
      }
      v1::ProfileTransfer& transfer = *record.mutable_transfer();
      const uint64_t loser = transfer.merge().loser();
      const uint64_t winner = transfer.merge().winner();
      if (!transfer.has_loser_state()) {
        // First hop, on the loser's partition: hand its state to the winner's partition.
        ASSIGN_OR_RETURN(std::optional<uint64_t> already, profiles.MergedInto(loser));
        if (already.has_value()) continue;  // replayed transfer
        // Whole: the winner's partition has no other way to read its orders.
        ASSIGN_OR_RETURN(v1::Profile * loser_profile, profiles.GetWhole(loser, ""));
        v1::Profile& handed_on = *transfer.mutable_loser_state();
        handed_on = *loser_profile;
        handed_on.clear_order_buckets();  // every order is inline in the transfer
        RETURN_IF_ERROR(profiles.MarkMerged(loser, winner));
        forward(winner, std::move(record));
        continue;
      }
      // Second hop, on the winner's partition (unless the winner itself was merged on since).
      ASSIGN_OR_RETURN(std::optional<uint64_t> winner_moved, profiles.MergedInto(winner));
      if (winner_moved.has_value()) {
        forward(*winner_moved, std::move(record));
        continue;
      }
      RETURN_IF_ERROR(profiles.Get(winner, transfer.loser_state().workspace()).status());
      RETURN_IF_ERROR(profiles.Absorb(transfer.loser_state(), winner));  // no-op when replayed
    }
    RETURN_IF_ERROR(finish(profiles, out));
    return out;
  };
  ActivationDriver driver(store.get(), activation.get(), &SystemClock(), "profiles");
  const StateTicker ticker{
      [&] { return driver.HasWork(); },
      [&](KeyValueView* state, bool* more) -> absl::StatusOr<std::vector<OutputRecord>> {
        profiles::ProfileStore profile_store(state);
        ProfileBatch profiles(&profile_store, activation.get(), state, options.computed_traits.get());
        const ActivationDriver::Hooks hooks{[&](uint64_t id) { return profiles.Reevaluate(id); },
                                            [&]() -> absl::StatusOr<std::vector<OutputRecord>> {
                                              std::vector<OutputRecord> out;
                                              RETURN_IF_ERROR(finish(profiles, out));
                                              return out;
                                            }};
        return driver.Tick(state, hooks, more);
      }};
  WorkerLoopOptions loop{"profiles", options.topic_prefix + "profiles", {topics.resolved}, store.get()};
  return RunWorkerLoopWithTicks(options, loop, handler, ticker, stop);
}

absl::Status RunSinksStage(const RunOptions& options, const std::atomic<bool>& stop) {
  const Topics topics(options.topic_prefix);
  const BatchHandler handler = [&](const std::vector<KafkaMessage>& batch,
                                   KeyValueView*) -> absl::StatusOr<std::vector<OutputRecord>> {
    std::vector<OutputRecord> out;
    out.reserve(batch.size());
    for (const KafkaMessage& m : batch) {
      ASSIGN_OR_RETURN(v1::ProfileUpdate update, ParseProto<v1::ProfileUpdate>(m));
      out.push_back(ProfileUpdateOutput(topics, update));
    }
    return out;
  };
  WorkerLoopOptions loop{"sinks", options.topic_prefix + "sinks", {topics.profile_changes}, nullptr};
  return RunWorkerLoop(options, loop, handler, stop);
}

}  // namespace tessera::app
