#include "waiter.h"

#include <cerrno>

#include "js_error.h"

namespace shmring {

namespace {
// One slot of futex_waitv goes to the control word.
constexpr size_t kMaxArmedWords = kMaxWaitvWords - 1;
// Without futex_waitv a single word is waited in slices so that control changes are still noticed.
constexpr double kFallbackSliceMs = 20;
constexpr int kRetry = 1000;  // WaitOnce: the request changed or the wait must be repeated

const uint32_t* ControlAddress(const std::atomic<uint32_t>& control) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word must be 32 bits");
  return reinterpret_cast<const uint32_t*>(&control);
}
}  // namespace

void WaiterCallJs(Napi::Env env, Napi::Function callback, WaiterTsfnContext* context,
                  WaiterOutcome* outcome) {
  // env is null when the thread-safe function is torn down with outcomes still queued.
  if (static_cast<napi_env>(env) != nullptr && context != nullptr && context->waiter != nullptr) {
    WaiterOutcome copy = *outcome;
    delete outcome;
    // An exception thrown by the JS callback must go back to JS as a pending exception (Node reports it
    // as uncaught): escaping this C callback as a C++ exception would terminate the process.
    try {
      context->waiter->Deliver(env, callback, copy);
    } catch (const Napi::Error& error) {
      // While Node tears the environment down, JS can neither run nor receive the exception: drop it.
      try {
        error.ThrowAsJavaScriptException();
      } catch (...) {
      }
    }
    return;
  }
  delete outcome;
}

Napi::Function Waiter::Define(Napi::Env env) {
  return DefineClass(env, "Waiter",
                     {
                         InstanceMethod<&Waiter::Arm>("arm"),
                         InstanceMethod<&Waiter::Cancel>("cancel"),
                         InstanceMethod<&Waiter::Ref>("ref"),
                         InstanceMethod<&Waiter::Unref>("unref"),
                         InstanceMethod<&Waiter::Close>("close"),
                     });
}

Waiter::Waiter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Waiter>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "Waiter: callback must be a function");
  }
  env_ = env;
  context_ = new WaiterTsfnContext{this};
  tsfn_ = Tsfn::New(
      env, info[0].As<Napi::Function>(), "shmring.Waiter", 0 /* unbounded queue: never blocks */,
      1 /* the waiter thread */, context_,
      [](Napi::Env, void*, WaiterTsfnContext* context) { delete context; });
  // An idle Waiter must never keep the process alive.
  tsfn_.Unref(env);
  thread_ = std::thread([this] { ThreadMain(); });
  // Added after the TSFN is created: cleanup hooks run in reverse order, so the thread is joined
  // before Node tears the TSFN down under it.
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

Waiter::~Waiter() {
  Stop();
}

void Waiter::CleanupHook(void* self) {
  Waiter* waiter = static_cast<Waiter*>(self);
  waiter->cleanupHookAdded_ = false;  // running hooks are already removed
  waiter->Stop();
}

void Waiter::ChangeControl() {
  control_.fetch_add(1);
  FutexWake(ControlAddress(control_), 1);
}

void Waiter::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    hasRequest_ = false;
    ChangeControl();
  }
  if (thread_.joinable()) thread_.join();
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    cleanupHookAdded_ = false;
  }
  context_->waiter = nullptr;  // outcomes still queued are dropped (or delivered before this)
  tsfn_.Release();
  ReleaseArmed();
  armed_ = false;
}

void Waiter::ReleaseArmed() {
  for (auto& reference : armedBuffers_) reference.Reset();
  armedBuffers_.clear();
}

void Waiter::UpdateRef(Napi::Env env) {
  if (stopped_) return;
  if ((armed_ && refWhileArmed_) || pendingCancels_ > 0) {
    tsfn_.Ref(env);
  } else {
    tsfn_.Unref(env);
  }
}

void Waiter::Post(uint64_t generation, int result, int index) {
  auto* outcome = new WaiterOutcome{generation, result, index};
  if (tsfn_.NonBlockingCall(outcome) != napi_ok) delete outcome;  // closing: nobody to tell
}

Napi::Value Waiter::Arm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (stopped_) throw Napi::Error::New(env, "Waiter.arm: the waiter is closed");
  if (armed_) throw Napi::Error::New(env, "Waiter.arm: a wait is already armed; cancel it first");
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "Waiter.arm(buffers, byteOffsets, expected, timeoutMs)");
  }
  Napi::Array buffers = info[0].As<Napi::Array>();
  Napi::Array offsets = info[1].As<Napi::Array>();
  Napi::Array expected = info[2].As<Napi::Array>();
  uint32_t count = buffers.Length();
  if (count == 0 || count > kMaxArmedWords || offsets.Length() != count ||
      expected.Length() != count) {
    throw Napi::RangeError::New(env, "Waiter.arm: 1.." + std::to_string(kMaxArmedWords) +
                                         " words, with as many byteOffsets and expected values");
  }
  Request request;
  std::vector<Napi::ObjectReference> references;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value buffer = buffers.Get(i);
    request.words.push_back(WordAt(env, buffer, offsets.Get(i), "Waiter.arm"));
    Napi::Value value = expected.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "Waiter.arm: expected must be numbers");
    request.expected.push_back(static_cast<uint32_t>(value.As<Napi::Number>().Int64Value()));
    references.push_back(Napi::Persistent(buffer.As<Napi::Object>()));
  }
  request.deadline = DeadlineAfterMs(TimeoutMs(info[3]));
  request.generation = ++generation_;

  armed_ = true;
  armedBuffers_ = std::move(references);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    request_ = std::move(request);
    hasRequest_ = true;
    ChangeControl();
  }
  UpdateRef(env);
  return env.Undefined();
}

Napi::Value Waiter::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!armed_ || stopped_) return env.Undefined();
  armed_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hasRequest_ = false;
    ChangeControl();
  }
  ReleaseArmed();
  pendingCancels_++;
  Post(generation_, kWaiterCancelled, -1);
  UpdateRef(env);
  return env.Undefined();
}

Napi::Value Waiter::Ref(const Napi::CallbackInfo& info) {
  refWhileArmed_ = true;
  UpdateRef(info.Env());
  return info.Env().Undefined();
}

Napi::Value Waiter::Unref(const Napi::CallbackInfo& info) {
  refWhileArmed_ = false;
  UpdateRef(info.Env());
  return info.Env().Undefined();
}

Napi::Value Waiter::Close(const Napi::CallbackInfo& info) {
  Napi::Value result = Cancel(info);  // an armed wait is reported as cancelled
  Stop();
  return result;
}

void Waiter::Deliver(Napi::Env env, Napi::Function callback, const WaiterOutcome& outcome) {
  if (outcome.result == kWaiterCancelled) {
    pendingCancels_--;
  } else {
    // Drop outcomes of waits that were cancelled (or superseded) after the thread finished them.
    if (!armed_ || outcome.generation != generation_) return;
    armed_ = false;
    ReleaseArmed();
  }
  UpdateRef(env);
  callback.Call({Napi::Number::New(env, outcome.result), Napi::Number::New(env, outcome.index)});
}

void Waiter::ThreadMain() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopping_) return;
    uint32_t seen = control_.load();
    if (!hasRequest_) {
      lock.unlock();
      FutexWait(ControlAddress(control_), seen, DeadlineAfterMs(-1));
      lock.lock();
      continue;
    }
    Request request = request_;
    lock.unlock();
    int index = -1;
    int result = WaitOnce(request, seen);
    if (result >= 0 && result != kRetry && result > kWaiterCancelled) {
      index = result - 100;  // encoded woken index, see WaitOnce
      result = kWaiterOk;
    }
    lock.lock();
    if (result == kRetry) continue;
    if (!hasRequest_ || request_.generation != request.generation) continue;  // cancelled meanwhile
    hasRequest_ = false;
    lock.unlock();
    Post(request.generation, result, index);
    lock.lock();
  }
}

// Returns kWaiterNotEqual, kWaiterTimedOut, 100 + index of a woken word, -errno, or kRetry when the
// control word moved (arm/cancel/close) or a fallback slice ended.
int Waiter::WaitOnce(const Request& request, uint32_t controlSeen) {
  const size_t count = request.words.size();
  if (!FutexWaitvSupported()) {
    if (count != 1) return -ENOSYS;
    Deadline slice = EarlierOf(request.deadline, DeadlineAfterMs(kFallbackSliceMs));
    int rc = FutexWait(request.words[0], request.expected[0], slice);
    if (control_.load() != controlSeen) return kRetry;
    if (rc == kWaitOk) return 100;
    if (rc == kWaitTimedOut) return DeadlinePassed(request.deadline) ? kWaiterTimedOut : kRetry;
    return rc == kWaitNotEqual ? kWaiterNotEqual : rc;
  }
  const uint32_t* words[kMaxWaitvWords];
  uint32_t expected[kMaxWaitvWords];
  words[0] = ControlAddress(control_);
  expected[0] = controlSeen;
  for (size_t i = 0; i < count; i++) {
    words[i + 1] = request.words[i];
    expected[i + 1] = request.expected[i];
  }
  int rc = FutexWaitv(words, expected, count + 1, request.deadline);
  // The thread never reads the armed words itself: after a cancel JS may already have unmapped them.
  if (rc == 0) return kRetry;
  if (rc > 0) return 100 + (rc - 1);
  if (control_.load() != controlSeen) return kRetry;
  if (rc == -EAGAIN) return kWaiterNotEqual;
  if (rc == -ETIMEDOUT) return kWaiterTimedOut;
  return rc;
}

}  // namespace shmring
