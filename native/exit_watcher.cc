#include "exit_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "js_error.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace shmring {

void ExitWatcherCallJs(Napi::Env env, Napi::Function callback, ExitWatcherTsfnContext* context,
                       int* unused) {
  delete unused;
  if (static_cast<napi_env>(env) != nullptr && context != nullptr && context->watcher != nullptr) {
    // As in waiter.cc: a JS exception must not escape this C callback as a C++ exception.
    try {
      context->watcher->Deliver(env, callback);
    } catch (const Napi::Error& error) {
      // While Node tears the environment down, JS can neither run nor receive the exception: drop it.
      try {
        error.ThrowAsJavaScriptException();
      } catch (...) {
      }
    }
  }
}

Napi::Function ExitWatcher::Define(Napi::Env env) {
  return DefineClass(env, "ExitWatcher",
                     {
                         InstanceMethod<&ExitWatcher::Close>("close"),
                         InstanceMethod<&ExitWatcher::Ref>("ref"),
                         InstanceMethod<&ExitWatcher::Unref>("unref"),
                     });
}

ExitWatcher::ExitWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExitWatcher>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "ExitWatcher(pid: number, callback: function)");
  }
  double pid = info[0].As<Napi::Number>().DoubleValue();
  if (!(pid >= 1 && pid <= 0x7fffffff) || static_cast<double>(static_cast<int64_t>(pid)) != pid) {
    throw Napi::RangeError::New(env, "ExitWatcher: pid must be a positive integer");
  }
  long fd = syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0u);
  if (fd == -1) throw ErrnoError(env, errno, "pidfd_open", "pid " + std::to_string(int64_t(pid)));
  pidfd_ = static_cast<int>(fd);
  stopfd_ = eventfd(0, EFD_CLOEXEC);
  if (stopfd_ == -1) {
    int err = errno;
    close(pidfd_);
    pidfd_ = -1;
    throw ErrnoError(env, err, "eventfd");
  }
  env_ = env;
  context_ = new ExitWatcherTsfnContext{this};
  tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "shmring.ExitWatcher", 0, 1, context_,
                    [](Napi::Env, void*, ExitWatcherTsfnContext* context) { delete context; });
  thread_ = std::thread([this] { ThreadMain(); });
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

ExitWatcher::~ExitWatcher() {
  Stop();
}

void ExitWatcher::CleanupHook(void* self) {
  ExitWatcher* watcher = static_cast<ExitWatcher*>(self);
  watcher->cleanupHookAdded_ = false;
  watcher->Stop();
}

void ExitWatcher::ThreadMain() {
  pollfd fds[2] = {{pidfd_, POLLIN, 0}, {stopfd_, POLLIN, 0}};
  for (;;) {
    int rc = poll(fds, 2, -1);
    if (rc == -1 && errno == EINTR) continue;
    if (rc == -1) return;  // cannot happen with valid fds; nothing sensible to report
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) {
      // A pidfd becomes readable when the process exits.
      tsfn_.NonBlockingCall(new int(0));
      return;
    }
  }
}

void ExitWatcher::Deliver(Napi::Env, Napi::Function callback) {
  if (delivered_ || stopped_) return;
  delivered_ = true;
  Stop();  // the watched process is gone: nothing left to wait for, so stop keeping the loop alive
  callback.Call({});
}

void ExitWatcher::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t one = 1;
  ssize_t written = write(stopfd_, &one, sizeof one);
  (void)written;  // an eventfd write of 1 cannot fail short of overflow
  if (thread_.joinable()) thread_.join();
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    cleanupHookAdded_ = false;
  }
  context_->watcher = nullptr;
  tsfn_.Release();
  close(pidfd_);
  close(stopfd_);
  pidfd_ = stopfd_ = -1;
}

Napi::Value ExitWatcher::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

Napi::Value ExitWatcher::Ref(const Napi::CallbackInfo& info) {
  if (!stopped_) tsfn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value ExitWatcher::Unref(const Napi::CallbackInfo& info) {
  if (!stopped_) tsfn_.Unref(info.Env());
  return info.Env().Undefined();
}

}  // namespace shmring
