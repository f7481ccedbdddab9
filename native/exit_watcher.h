// ExitWatcher: calls back once when a process exits, using pidfd_open (Linux 5.3+) polled on a
// dedicated thread together with an eventfd that close() signals.
#pragma once

#include <napi.h>

#include <thread>

namespace shmring {

class ExitWatcher;

struct ExitWatcherTsfnContext {
  ExitWatcher* watcher;
};

void ExitWatcherCallJs(Napi::Env env, Napi::Function callback, ExitWatcherTsfnContext* context,
                       int* unused);

class ExitWatcher : public Napi::ObjectWrap<ExitWatcher> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ExitWatcher(const Napi::CallbackInfo& info);
  ~ExitWatcher() override;

  void Deliver(Napi::Env env, Napi::Function callback);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ExitWatcherTsfnContext, int, ExitWatcherCallJs>;

  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  void ThreadMain();
  void Stop();  // idempotent: wakes and joins the thread, closes the fds, releases the TSFN
  static void CleanupHook(void* self);

  int pidfd_ = -1;
  int stopfd_ = -1;  // eventfd: written by Stop() to end the poll
  Tsfn tsfn_;
  std::thread thread_;
  bool stopped_ = false;
  bool delivered_ = false;
  bool cleanupHookAdded_ = false;
  ExitWatcherTsfnContext* context_ = nullptr;
  napi_env env_ = nullptr;
};

}  // namespace shmring
