#include "app/batch_committer.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace tessera::app {

BatchCommitter::BatchCommitter(std::string name, KafkaProducer* producer, KafkaConsumer* consumer,
                               absl::Duration delivery_timeout, absl::Duration group_commit_interval)
    : name_(std::move(name)),
      producer_(producer),
      consumer_(consumer),
      delivery_timeout_(delivery_timeout),
      group_commit_interval_(group_commit_interval) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tessera-commit");  // tells it apart in top and perf
    Run();
  });
}

BatchCommitter::~BatchCommitter() {
  (void)Drain();  // the loop drained and reported already; this is for early returns
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

absl::Status BatchCommitter::Submit(Batch batch) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&current_done_));
  if (!error_.ok()) return error_;
  // The batch below is committed now: the new one reads it from the store from here on.
  if (batch.staged != nullptr) batch.staged->ForgetBelow();
  current_ = std::move(batch);
  current_done_ = false;
  return absl::OkStatus();
}

absl::Status BatchCommitter::Drain() {
  std::map<TopicPartition, int64_t> unreported;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&current_done_));
    current_.reset();
    unreported.swap(unreported_offsets_);
    if (!unreported.empty()) last_group_commit_ = absl::Now();
    status = error_;
  }
  // It only holds offsets of batches already written, so it is committed even after a failure.
  CommitToGroup(unreported);
  return status;
}

const StagedWrites* BatchCommitter::last_staged() const {
  absl::MutexLock lock(&mu_);
  return current_.has_value() ? current_->staged.get() : nullptr;
}

void BatchCommitter::Run() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](BatchCommitter* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) { return self->stop_ || !self->current_done_; },
        this));
    if (current_done_) return;  // stopping, nothing handed over
    // Stable while not done: Submit and Drain wait for current_done_ before touching current_.
    const Batch* batch = &*current_;
    absl::Status status;
    if (error_.ok()) {
      mu_.Unlock();
      status = CommitOne(*batch);
      mu_.Lock();
    }
    if (!status.ok() && error_.ok()) error_ = status;
    current_done_ = true;
  }
}

absl::Status BatchCommitter::CommitOne(const Batch& batch) {
  // rd_kafka_flush sends at once (linger.ms waits only for more records to batch with) and
  // returns when every record enqueued so far is acknowledged: this batch's outputs, and any of the
  // next batch's enqueued meanwhile, whose own wait is then shorter.
  if (batch.outputs > 0) {
    if (absl::Status flushed = producer_->Flush(delivery_timeout_); !flushed.ok()) {
      return absl::UnavailableError(absl::StrCat(name_, ": outputs not acknowledged: ", flushed.message()));
    }
  }
  if (batch.staged != nullptr) {
    if (absl::Status written = batch.staged->Write(); !written.ok()) return written;
  }
  if (consumer_ == nullptr || batch.next_offsets.empty()) return absl::OkStatus();
  if (batch.staged == nullptr) {
    CommitToGroup(batch.next_offsets);  // where a stateless stage resumes from: every batch
    return absl::OkStatus();
  }
  std::map<TopicPartition, int64_t> due;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [partition, next] : batch.next_offsets) {
      int64_t& unreported = unreported_offsets_[partition];
      unreported = std::max(unreported, next);
    }
    if (absl::Now() - last_group_commit_ < group_commit_interval_) return absl::OkStatus();
    due.swap(unreported_offsets_);
    last_group_commit_ = absl::Now();
  }
  CommitToGroup(due);
  return absl::OkStatus();
}

void BatchCommitter::CommitToGroup(const std::map<TopicPartition, int64_t>& next_offsets) const {
  if (consumer_ == nullptr || next_offsets.empty()) return;
  if (absl::Status commit = consumer_->Commit(next_offsets); !commit.ok()) {
    LogWarning(absl::StrCat(name_, ": ", commit.ToString()));
  }
}

}  // namespace tessera::app
