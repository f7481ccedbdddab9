// Waiter: asynchronous futex waits served by one dedicated thread per Waiter (never the libuv pool:
// blocked pool threads would starve fs/dns/crypto and hang process.exit()).
//
// The thread always sleeps on a private control word as well as on the armed words, so arm, cancel
// and close only need to bump the control word and wake it: a change made just before the thread goes
// to sleep makes futex_waitv return EAGAIN at once, so no request is ever lost.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "futex.h"

namespace shmring {

enum WaiterResult : int {
  kWaiterOk = 0,
  kWaiterNotEqual = 1,
  kWaiterTimedOut = 2,
  kWaiterCancelled = 3,
  // Negative results are -errno (e.g. -ENOSYS when futex_waitv is missing); index is -1.
};

struct WaiterOutcome {
  uint64_t generation;
  int result;
  int index;
};

class Waiter;

// The thread-safe function's context. Outlives the Waiter when outcomes are still queued at
// destruction; `waiter` is then null and those outcomes are dropped. Freed by the TSFN finalizer.
struct WaiterTsfnContext {
  Waiter* waiter;
};

void WaiterCallJs(Napi::Env env, Napi::Function callback, WaiterTsfnContext* context,
                  WaiterOutcome* outcome);

class Waiter : public Napi::ObjectWrap<Waiter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Waiter(const Napi::CallbackInfo& info);
  ~Waiter() override;

  // Runs on the JS thread (called by the thread-safe function).
  void Deliver(Napi::Env env, Napi::Function callback, const WaiterOutcome& outcome);

 private:
  struct Request {
    std::vector<const uint32_t*> words;
    std::vector<uint32_t> expected;
    Deadline deadline;
    uint64_t generation;
  };

  using Tsfn = Napi::TypedThreadSafeFunction<WaiterTsfnContext, WaiterOutcome, WaiterCallJs>;

  Napi::Value Arm(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void ThreadMain();
  int WaitOnce(const Request& request, uint32_t controlSeen);
  void Post(uint64_t generation, int result, int index);
  void ChangeControl();  // caller holds mutex_
  void Stop();           // idempotent: stops and joins the thread, releases the TSFN
  void ReleaseArmed();
  void UpdateRef(Napi::Env env);
  static void CleanupHook(void* self);

  // Shared with the thread, under mutex_.
  std::mutex mutex_;
  bool hasRequest_ = false;
  bool stopping_ = false;
  Request request_;
  // The control word the thread sleeps on. Bumped (under mutex_) on every change of request_.
  std::atomic<uint32_t> control_{0};

  // JS thread only.
  Tsfn tsfn_;
  std::thread thread_;
  bool stopped_ = false;
  bool cleanupHookAdded_ = false;
  bool armed_ = false;
  bool refWhileArmed_ = true;
  int pendingCancels_ = 0;  // cancelled outcomes posted but not yet delivered
  WaiterTsfnContext* context_ = nullptr;
  uint64_t generation_ = 0;
  std::vector<Napi::ObjectReference> armedBuffers_;  // keep mapped memory alive while armed
  napi_env env_ = nullptr;
};

}  // namespace shmring
