#include "app/runner.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "app/activation_driver.h"
#include "app/batch_committer.h"
#include "app/fused_pipeline.h"
#include "app/offsets.h"
#include "app/outputs.h"
#include "app/topics.h"
#include "app/worker_loop.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "identity/identity_resolver.h"

namespace tessera::app {

std::string FusedStorePath(const std::string& data_dir) { return data_dir + "/store"; }
std::string IdentityStorePath(const std::string& data_dir) { return data_dir + "/identity"; }
std::string ProfilesStorePath(const std::string& data_dir, const std::vector<int32_t>& owned_partitions) {
  if (owned_partitions.empty()) return data_dir + "/profiles";
  return absl::StrCat(data_dir, "/profiles-p", absl::StrJoin(owned_partitions, "-"));
}

absl::StatusOr<std::unique_ptr<RocksStore>> OpenStageStore(const std::string& path, const RunOptions& run) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("create ", path, ": ", ec.message()));
  RocksStoreOptions options;
  options.block_cache_bytes = run.block_cache_bytes;
  if (run.dedup_window_ms > 0) {
    options.expiring_prefixes.push_back({std::string(ingest::kDedupKeyPrefix), run.dedup_window_ms});
  }
  // Trigger fired-once records: each names its occurrence's date, so they only need to outlive it.
  options.expiring_prefixes.push_back({std::string(profiles::kFiredPrefix), profiles::kFiredRecordTtlMs});
  for (ExpiringPrefix& prefix : profiles::EventRetentionPrefixes(run.event_retention)) {
    options.expiring_prefixes.push_back(std::move(prefix));
  }
  // Every stage store gets it: identity keys only exist in the fused and identity stores, and an
  // empty prefix costs one seek at open.
  options.presence_filter_prefixes = identity::PresenceFilteredPrefixes();
  options.presence_filter_snapshot_every = run.presence_filter_snapshot_every;
  return RocksStore::Open(path, options);
}

absl::Status RunWorkerLoop(const RunOptions& run, const WorkerLoopOptions& loop, const BatchHandler& handler,
                           const std::atomic<bool>& stop) {
  return RunWorkerLoopWithTicks(run, loop, handler, StateTicker{}, stop);
}

absl::Status RunWorkerLoopWithTicks(const RunOptions& run, const WorkerLoopOptions& loop, const BatchHandler& handler,
                                    const StateTicker& ticker, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer, KafkaProducer::Create(run.brokers));
  // Set once the consumer exists; a rebalance waits for the batch being committed (see below).
  BatchCommitter* committer_for_rebalance = nullptr;
  KafkaConsumer::Options consumer_options;
  consumer_options.brokers = run.brokers;
  consumer_options.group_id = loop.group_id;
  consumer_options.group_instance_id = run.instance_id.empty() ? loop.group_id + "-0" : run.instance_id;
  consumer_options.topics = loop.topics;
  consumer_options.owned_partitions = run.owned_partitions;
  consumer_options.fetch_wait = run.fetch_wait;
  if (loop.store != nullptr) {
    RocksStore* store = loop.store;
    const std::string group = loop.group_id;
    consumer_options.stored_offsets = [store, group](const std::string& topic, int32_t partition) {
      StoreReader reader(store);
      absl::StatusOr<std::optional<int64_t>> offset = LoadOffset(reader, group, topic, partition);
      if (!offset.ok()) {
        // Starting anywhere else could skip or repeat data: stop the process instead.
        LogError(absl::StrCat("cannot read stored offset: ", offset.status().ToString()));
        std::abort();
      }
      return *offset;
    };
  }
  // Partitions move only once the batch in flight is committed, to the store and to the group, so
  // the offsets read at assignment and the ones a new owner finds are current. Its error, if any,
  // is reported by the loop's next Submit or Drain.
  consumer_options.before_rebalance = [&committer_for_rebalance] {
    if (committer_for_rebalance != nullptr) (void)committer_for_rebalance->Drain();
  };
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaConsumer> consumer, KafkaConsumer::Create(std::move(consumer_options)));
  LogInfo(absl::StrCat(loop.name, ": consuming ", absl::StrJoin(loop.topics, ", "), " as group ", loop.group_id));
  // A stateful stage overlaps a batch's commit with the next batch's logic (batch_committer.h). A
  // stateless one waits for each batch: the ingest stage commits its quality counts when it is
  // handed the next batch, which must mean the previous one's events are in Kafka.
  const bool overlap = loop.store != nullptr;
  BatchCommitter committer(loop.name, producer.get(), consumer.get());
  committer_for_rebalance = &committer;

  int64_t processed = 0;
  int64_t processed_at_last_log = 0;
  absl::Time last_log = absl::Now();
  // Where the loop's time went since the last progress line: an operator (and a benchmark) can
  // tell a loop waiting for input from one busy with stage logic or waiting for its commits
  // (a stateful stage waits for the previous batch's, a stateless one for its own).
  struct LoopTimes {
    int64_t batches = 0;
    absl::Duration poll, logic, produce, commit_wait, tick;
  } times;
  absl::Status result = absl::OkStatus();
  absl::Time last_tick = absl::InfinitePast();
  bool tick_has_more = false;
  while (!stop.load() && (run.max_records == 0 || processed < run.max_records)) {
    bool tick_now = ticker.tick && loop.store != nullptr && (tick_has_more || absl::Now() - last_tick >= absl::Seconds(1));
    if (tick_now && !tick_has_more && ticker.has_work) {
      absl::StatusOr<bool> has_work = ticker.has_work();
      if (!has_work.ok()) {
        result = has_work.status();
        break;
      }
      if (!*has_work) last_tick = absl::Now();
      tick_now = *has_work;
    }
    if (tick_now) {
      // Same order as a batch: outputs flushed, then the state committed (no input offsets). On
      // the state as committed: the batch in flight first.
      const absl::Time tick_start = absl::Now();
      result = committer.Drain();
      if (!result.ok()) break;
      last_tick = absl::Now();
      StagedWrites staged(loop.store);
      absl::StatusOr<std::vector<OutputRecord>> outputs = ticker.tick(&staged, &tick_has_more);
      if (!outputs.ok()) {
        result = outputs.status();
        break;
      }
      for (const OutputRecord& out : *outputs) {
        result = producer->Produce(out.topic, out.key, out.value, out.headers);
        if (!result.ok()) break;
      }
      if (result.ok() && !outputs->empty()) result = producer->Flush(absl::Minutes(2));
      if (result.ok()) result = staged.Commit();
      if (!result.ok()) break;
      times.tick += absl::Now() - tick_start;
      // With more to do (a backfill) the next iteration ticks again, but polls first: a consumer
      // that stops polling for max.poll.interval.ms leaves its group.
    }
    const absl::Time poll_start = absl::Now();
    absl::StatusOr<std::vector<KafkaMessage>> batch = consumer->PollBatch(run.batch_size, run.poll_timeout, run.batch_linger);
    const absl::Time logic_start = absl::Now();
    times.poll += logic_start - poll_start;
    if (!batch.ok()) {
      result = batch.status();
      break;
    }
    if (batch->empty()) continue;

    BatchCommitter::Batch handover;
    if (loop.store != nullptr) handover.staged = std::make_unique<StagedWrites>(loop.store, committer.last_staged());
    absl::StatusOr<std::vector<OutputRecord>> outputs = handler(*batch, handover.staged.get());
    const absl::Time produce_start = absl::Now();
    times.logic += produce_start - logic_start;
    if (!outputs.ok()) {
      result = outputs.status();
      break;
    }
    for (const OutputRecord& out : *outputs) {
      result = producer->Produce(out.topic, out.key, out.value, out.headers);
      if (!result.ok()) break;
    }
    if (!result.ok()) break;  // nothing durable yet: the batch is replayed after a restart
    handover.outputs = static_cast<int64_t>(outputs->size());
    for (const KafkaMessage& m : *batch) {
      int64_t& next = handover.next_offsets[{m.topic, m.partition}];
      next = std::max(next, m.offset + 1);
    }
    if (handover.staged != nullptr) StageOffsets(*handover.staged, loop.group_id, handover.next_offsets);
    const absl::Time submit_start = absl::Now();
    times.produce += submit_start - produce_start;
    result = committer.Submit(std::move(handover));
    if (result.ok() && !overlap) result = committer.Drain();
    if (!result.ok()) break;
    const absl::Time now = absl::Now();
    times.commit_wait += now - submit_start;
    ++times.batches;
    processed += static_cast<int64_t>(batch->size());
    if (now - last_log > absl::Seconds(10)) {
      const absl::Duration elapsed = now - last_log;
      const int64_t records = processed - processed_at_last_log;
      auto share = [&](absl::Duration d) { return absl::StrCat(static_cast<int>(100 * absl::FDivDuration(d, elapsed)), "%"); };
      LogInfo(absl::StrCat(loop.name, ": ", processed, " records (",
                           static_cast<int64_t>(static_cast<double>(records) / absl::ToDoubleSeconds(elapsed)),
                           "/s) in ", times.batches, " batches of ", records / std::max<int64_t>(times.batches, 1),
                           "; time polling ", share(times.poll), ", in stage logic ", share(times.logic),
                           ", producing ", share(times.produce), ", waiting for commits ",
                           share(times.commit_wait), ", in timer ticks ", share(times.tick)));
      last_log = now;
      processed_at_last_log = processed;
      times = LoopTimes{};
    }
  }
  // Whatever stopped the loop, the batch in flight is committed (or fails) before it returns.
  if (absl::Status drained = committer.Drain(); result.ok()) result = drained;
  committer_for_rebalance = nullptr;
  consumer->Close();
  LogInfo(absl::StrCat(loop.name, ": stopped after ", processed, " records", result.ok() ? "" : ": ",
                       result.ok() ? "" : result.ToString()));
  return result;
}

namespace {

std::vector<OutputRecord> FusedOutputRecords(const Topics& topics, const BatchOutputs& outputs) {
  std::vector<OutputRecord> records;
  records.reserve(outputs.updates.size() + outputs.dead_letters.size() + outputs.merges.size() +
                  outputs.segment_changes.size() + outputs.triggers.size());
  for (const v1::DeadLetter& d : outputs.dead_letters) records.push_back(DeadLetterOutput(topics, d));
  for (const v1::MergeRecord& m : outputs.merges) records.push_back(MergeOutput(topics, m));
  for (const v1::ProfileUpdate& u : outputs.updates) records.push_back(ProfileUpdateOutput(topics, u));
  for (const profiles::SegmentChange& c : outputs.segment_changes) records.push_back(SegmentChangeOutput(topics, c));
  for (const profiles::TriggerFiring& t : outputs.triggers) records.push_back(TriggerOutput(topics, t));
  return records;
}

}  // namespace

absl::Status RunFused(const RunOptions& options, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, OpenStageStore(FusedStorePath(options.data_dir), options));
  const Topics topics(options.topic_prefix);
  StagedWrites* current = nullptr;
  // The pipeline reads and writes through a view that forwards to the current batch's staged writes.
  class CurrentBatchView final : public KeyValueView {
   public:
    explicit CurrentBatchView(StagedWrites** current) : current_(current) {}
    absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override { return (*current_)->Get(key); }
    void Put(std::string_view key, std::string_view value) override { (*current_)->Put(key, value); }
    void Delete(std::string_view key) override { (*current_)->Delete(key); }
    absl::Status Prefetch(const std::vector<std::string>& keys) override { return (*current_)->Prefetch(keys); }

   private:
    StagedWrites** current_;
  } view(&current);
  const std::shared_ptr<const profiles::ActivationEngine> activation =
      options.activation != nullptr ? options.activation
                                    : std::make_shared<const profiles::ActivationEngine>(profiles::ActivationConfig{});
  FusedPipeline pipeline(&view,
                         FusedPipelineOptions{options.ingest, /*id_prefix=*/0, options.dedup_window_ms,
                                              options.identity_rules, activation, options.computed_traits},
                         &SystemClock());
  int64_t duplicates = 0;
  int64_t violations = 0;

  const BatchHandler handler = [&](const std::vector<KafkaMessage>& batch,
                                   KeyValueView* state) -> absl::StatusOr<std::vector<OutputRecord>> {
    current = static_cast<StagedWrites*>(state);
    const int64_t now = SystemClock().NowMillis();
    std::vector<RawRecord> records(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const KafkaMessage& m = batch[i];
      RawRecord& record = records[i];
      record.channel = topics.ChannelOf(m.topic);
      record.payload = m.payload;
      record.source.set_topic(m.topic);
      record.source.set_partition(m.partition);
      record.source.set_offset(m.offset);
      record.received_at_ms = now;
      record.origin = ingest::OriginFromHeaders(m);
    }
    RETURN_IF_ERROR(pipeline.ApplyAll(records));
    ASSIGN_OR_RETURN(BatchOutputs outputs, pipeline.FinishBatch());
    if (outputs.duplicates > 0) {
      duplicates += outputs.duplicates;
      LogInfo(absl::StrCat("fused: dropped ", outputs.duplicates, " duplicate events (", duplicates, " so far)"));
    }
    if (!outputs.violations.empty()) {
      violations += static_cast<int64_t>(outputs.violations.size());
      LogInfo(absl::StrCat("fused: identity rules refused ", outputs.violations.size(), " links (", violations,
                           " so far; `tessera identity violations` lists them)"));
    }
    return FusedOutputRecords(topics, outputs);
  };
  ActivationDriver driver(store.get(), activation.get(), &SystemClock(), "fused");
  const ActivationDriver::Hooks hooks{
      [&](uint64_t id) { return pipeline.Reevaluate(id); },
      [&]() -> absl::StatusOr<std::vector<OutputRecord>> {
        ASSIGN_OR_RETURN(BatchOutputs outputs, pipeline.FinishBatch());
        return FusedOutputRecords(topics, outputs);
      }};
  const StateTicker ticker{[&] { return driver.HasWork(); },
                           [&](KeyValueView* state, bool* more) {
                             current = static_cast<StagedWrites*>(state);
                             return driver.Tick(state, hooks, more);
                           }};
  WorkerLoopOptions loop{"fused", options.topic_prefix + "fused",
                         {topics.raw_web, topics.raw_social, topics.raw_purchase}, store.get()};
  return RunWorkerLoopWithTicks(options, loop, handler, ticker, stop);
}

}  // namespace tessera::app
