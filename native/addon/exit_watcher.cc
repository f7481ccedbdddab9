#include "exit_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include "js_error.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace shmring {


// ---- ProcessWatcher ------------------------------------------------------------------------

namespace {

pid_t PidArg(const Napi::CallbackInfo& info, const char* what) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": pid must be a number");
  }
  double pid = info[0].As<Napi::Number>().DoubleValue();
  if (!(pid >= 1 && pid <= 0x7fffffff) || static_cast<double>(static_cast<int64_t>(pid)) != pid) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + ": pid must be a positive integer, got " +
                                                info[0].ToString().Utf8Value());
  }
  return static_cast<pid_t>(pid);
}

}  // namespace

void ProcessWatcherCallJs(Napi::Env env, Napi::Function callback, ProcessWatcherTsfnContext* context,
                          pid_t* pid) {
  pid_t exited = *pid;
  delete pid;
  // env is null when the thread-safe function is torn down with calls still queued.
  if (static_cast<napi_env>(env) == nullptr || context == nullptr || context->watcher == nullptr) return;
  // As in waiter.cc: a JS exception must go back to JS, never escape this C callback as C++.
  try {
    context->watcher->Deliver(env, callback, exited);
  } catch (const Napi::Error& error) {
    // While Node tears the environment down, JS can neither run nor receive the exception: drop it.
    try {
      error.ThrowAsJavaScriptException();
    } catch (...) {
    }
  }
}

Napi::Function ProcessWatcher::Define(Napi::Env env) {
  return DefineClass(env, "ProcessWatcher",
                     {
                         InstanceMethod<&ProcessWatcher::Add>("add"),
                         InstanceMethod<&ProcessWatcher::Remove>("remove"),
                         InstanceMethod<&ProcessWatcher::Ref>("ref"),
                         InstanceMethod<&ProcessWatcher::Unref>("unref"),
                         InstanceMethod<&ProcessWatcher::Close>("close"),
                     });
}

ProcessWatcher::ProcessWatcher(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ProcessWatcher>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "ProcessWatcher: callback must be a function");
  }
  // Non-blocking: the thread drains it with one read that must not block when a wake raced the drain.
  controlfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (controlfd_ == -1) throw ErrnoError(env, errno, "eventfd");
  env_ = env;
  context_ = new ProcessWatcherTsfnContext{this};
  tsfn_ = Tsfn::New(env, info[0].As<Napi::Function>(), "shmring.ProcessWatcher",
                    0 /* unbounded queue: the thread never blocks */, 1 /* the watcher thread */,
                    context_, [](Napi::Env, void*, ProcessWatcherTsfnContext* context) { delete context; });
  tsfn_.Unref(env);  // nothing watched yet; UpdateRef refs it while a pid is watched
  try {
    thread_ = std::thread([this] { ThreadMain(); });
  } catch (const std::system_error& error) {
    // Not a Napi::Error: escaping here would terminate the process.
    stopped_ = true;
    context_->watcher = nullptr;
    tsfn_.Release();
    close(controlfd_);
    controlfd_ = -1;
    throw ErrnoError(env, error.code().value(), "pthread_create");
  }
  // Added after the TSFN is created: cleanup hooks run in reverse order, so the thread is joined
  // before Node tears the TSFN down under it.
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

ProcessWatcher::~ProcessWatcher() {
  Stop();
}

void ProcessWatcher::CleanupHook(void* self) {
  ProcessWatcher* watcher = static_cast<ProcessWatcher*>(self);
  watcher->cleanupHookAdded_ = false;  // running hooks are already removed
  watcher->Stop();
}

void ProcessWatcher::WakeThread() {
  uint64_t one = 1;
  // Fails only with EAGAIN when the counter is about to overflow, which needs 2^64 unread wakes: the
  // thread is then certainly woken already.
  ssize_t written = write(controlfd_, &one, sizeof one);
  (void)written;
}

void ProcessWatcher::ThreadMain() {
  std::vector<pollfd> fds;
  std::vector<pid_t> pids;  // pids[i] is watched by fds[i]; index 0 is the control eventfd
  std::vector<pid_t> exited;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      // Not in poll() now, so the fds that remove() retired can be closed without a reuse race.
      for (int fd : retiredFds_) close(fd);
      retiredFds_.clear();
      fds.assign(1, pollfd{controlfd_, POLLIN, 0});
      pids.assign(1, 0);
      for (const auto& entry : pidfds_) {
        fds.push_back(pollfd{entry.second, POLLIN, 0});
        pids.push_back(entry.first);
      }
    }
    int rc = poll(fds.data(), fds.size(), -1);
    if (rc == -1) {
      if (errno == EINTR) continue;
      // ENOMEM is the only failure possible with fds this thread owns: wait a little and retry
      // rather than stop watching for good.
      poll(nullptr, 0, 100);
      continue;
    }
    if (fds[0].revents != 0) {
      uint64_t count;
      ssize_t got = read(controlfd_, &count, sizeof count);
      (void)got;  // EAGAIN: another read already drained it; the rebuild below happens regardless
    }
    exited.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 1; i < fds.size(); i++) {
        // A pidfd polls readable (POLLIN) once its process has exited.
        if (fds[i].revents == 0) continue;
        auto it = pidfds_.find(pids[i]);
        // Removed (or removed and added again, with a new fd) while we polled: not ours to report.
        if (it == pidfds_.end() || it->second != fds[i].fd) continue;
        close(it->second);
        pidfds_.erase(it);
        exited.push_back(pids[i]);
      }
    }
    for (pid_t pid : exited) {
      pid_t* call = new pid_t(pid);
      if (tsfn_.NonBlockingCall(call) != napi_ok) delete call;  // closing: nobody to tell
    }
  }
}

void ProcessWatcher::Deliver(Napi::Env env, Napi::Function callback, pid_t pid) {
  if (stopped_) return;
  // Dropped when remove(pid) came after the thread reported it: the caller no longer wants to know.
  if (watched_.erase(pid) == 0) return;
  UpdateRef(env);
  callback.Call({Napi::Number::New(env, pid)});
}

void ProcessWatcher::UpdateRef(Napi::Env env) {
  if (stopped_) return;
  if (refWanted_ && !watched_.empty()) {
    tsfn_.Ref(env);
  } else {
    tsfn_.Unref(env);
  }
}

Napi::Value ProcessWatcher::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = PidArg(info, "ProcessWatcher.add");
  if (stopped_) throw Napi::Error::New(env, "ProcessWatcher.add: the watcher is closed");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pidfds_.count(pid) == 0) {
      long fd = syscall(SYS_pidfd_open, pid, 0u);  // pidfds are always close-on-exec
      if (fd == -1) throw ErrnoError(env, errno, "pidfd_open", "pid " + std::to_string(pid));
      pidfds_.emplace(pid, static_cast<int>(fd));
      WakeThread();
    }
  }
  watched_.insert(pid);
  UpdateRef(env);
  return env.Undefined();
}

Napi::Value ProcessWatcher::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = PidArg(info, "ProcessWatcher.remove");
  if (stopped_) return env.Undefined();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pidfds_.find(pid);
    if (it != pidfds_.end()) {
      retiredFds_.push_back(it->second);
      pidfds_.erase(it);
      WakeThread();
    }
  }
  watched_.erase(pid);
  UpdateRef(env);
  return env.Undefined();
}

Napi::Value ProcessWatcher::Ref(const Napi::CallbackInfo& info) {
  refWanted_ = true;
  UpdateRef(info.Env());
  return info.Env().Undefined();
}

Napi::Value ProcessWatcher::Unref(const Napi::CallbackInfo& info) {
  refWanted_ = false;
  UpdateRef(info.Env());
  return info.Env().Undefined();
}

Napi::Value ProcessWatcher::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

void ProcessWatcher::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    WakeThread();
  }
  if (thread_.joinable()) thread_.join();
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    cleanupHookAdded_ = false;
  }
  context_->watcher = nullptr;  // calls still queued are dropped
  tsfn_.Release();
  // The thread is gone: every fd is ours to close.
  for (const auto& entry : pidfds_) close(entry.second);
  for (int fd : retiredFds_) close(fd);
  pidfds_.clear();
  retiredFds_.clear();
  watched_.clear();
  close(controlfd_);
  controlfd_ = -1;
}

}  // namespace shmring
