// ProcessWatcher: tells JS when watched processes exit, using pidfd_open (Linux 5.3+) polled on one
// thread for any number of processes.
#pragma once

#include <napi.h>

#include <thread>

#include <sys/types.h>

#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shmring {

// ProcessWatcher: one thread per instance polls the pidfds of any number of processes plus an eventfd
// that add()/remove()/close() write to make it rebuild its poll set. The callback gets each exited pid
// once, on the JS thread; the pid is then no longer watched.
class ProcessWatcher;

// Outlives the watcher when calls are still queued at destruction; `watcher` is then null and those
// calls are dropped. Freed by the TSFN finalizer.
struct ProcessWatcherTsfnContext {
  ProcessWatcher* watcher;
};

void ProcessWatcherCallJs(Napi::Env env, Napi::Function callback, ProcessWatcherTsfnContext* context,
                          pid_t* pid);

class ProcessWatcher : public Napi::ObjectWrap<ProcessWatcher> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ProcessWatcher(const Napi::CallbackInfo& info);
  ~ProcessWatcher() override;

  void Deliver(Napi::Env env, Napi::Function callback, pid_t pid);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ProcessWatcherTsfnContext, pid_t, ProcessWatcherCallJs>;

  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void ThreadMain();
  void WakeThread();
  void UpdateRef(Napi::Env env);
  void Stop();  // idempotent: wakes and joins the thread, closes every fd, releases the TSFN
  static void CleanupHook(void* self);

  // Shared with the thread, under mutex_. Only the thread closes a pidfd while it runs: it may be
  // inside poll() on it, and a number closed under it could be reused by an unrelated open().
  std::mutex mutex_;
  std::unordered_map<pid_t, int> pidfds_;
  std::vector<int> retiredFds_;  // removed from pidfds_ by remove(), closed by the thread
  bool stopping_ = false;

  // JS thread only.
  std::unordered_set<pid_t> watched_;  // added, not removed, exit not delivered: keeps the loop alive
  bool refWanted_ = true;
  bool stopped_ = false;
  bool cleanupHookAdded_ = false;
  int controlfd_ = -1;  // eventfd, EFD_NONBLOCK
  Tsfn tsfn_;
  std::thread thread_;
  ProcessWatcherTsfnContext* context_ = nullptr;
  napi_env env_ = nullptr;
};

}  // namespace shmring
