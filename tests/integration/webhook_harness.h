// Test helpers for the sink tests: the failing webhook receiver (webhook_receiver.py) as a child
// process, its recorded state, and profile-updates records built from real ProfileUpdates.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/tessera/v1/tessera.pb.h"
#include "tests/integration/child_process.h"

namespace tessera::testing {

struct Receipt {
  std::string key;
  std::string profile_id;
  int64_t version = 0;
  std::string type;
  bool acked = false;
  std::string item;  // the whole item as compact JSON, when the receiver runs with --record-items
};

struct ReceiverState {
  std::vector<Receipt> receipts;
  int64_t requests = 0;
  int64_t bad_signatures = 0;
  std::map<std::string, int64_t> injected;
};

class WebhookReceiver {
 public:
  // `extra_args` are the receiver's failure options (see webhook_receiver.py).
  WebhookReceiver(const std::string& dir, const std::string& name, const std::string& secret,
                  const std::vector<std::string>& extra_args);
  std::string url() const;
  ReceiverState State() const;

 private:
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// A profile-updates record value for profile `id` at `version` with the given consent.
v1::ProfileUpdate MakeUpdate(uint64_t id, uint64_t version, const std::map<std::string, bool>& consent);

// Produces the updates (JSON, keyed by profile id) to `topic` and flushes.
void ProduceUpdates(const std::string& brokers, const std::string& topic, const std::vector<v1::ProfileUpdate>& updates);

// The receiver's acked receipts per profile, in arrival order.
std::map<std::string, std::vector<Receipt>> AckedByProfile(const ReceiverState& state);

// Resident set size of a process in KiB (/proc/PID/status VmRSS); 0 if unreadable.
int64_t RssKib(int pid);

}  // namespace tessera::testing
