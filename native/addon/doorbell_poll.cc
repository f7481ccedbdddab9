#include "doorbell_poll.h"

#include <string>

#include "fifo.h"
#include "js_error.h"

namespace shmring {

Napi::Function DoorbellPoll::Define(Napi::Env env) {
  return DefineClass(env, "DoorbellPoll",
                     {
                         InstanceMethod<&DoorbellPoll::Ref>("ref"),
                         InstanceMethod<&DoorbellPoll::Unref>("unref"),
                         InstanceMethod<&DoorbellPoll::Close>("close"),
                     });
}

// new DoorbellPoll(fd, callback): starts polling fd for readable; unref'ed (ref() while a wait is pending).
DoorbellPoll::DoorbellPoll(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DoorbellPoll>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "DoorbellPoll(fd, callback)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::RangeError::New(env, "DoorbellPoll: fd must be >= 0");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "DoorbellPoll: napi_get_uv_event_loop failed");
  }
  napi_value resourceName = Napi::String::New(env, "shmring.DoorbellPoll");
  if (napi_async_init(env, info.This(), resourceName, &asyncContext_) != napi_ok) {
    throw Napi::Error::New(env, "DoorbellPoll: napi_async_init failed");
  }
  auto* handle = new uv_poll_t;
  int rc = uv_poll_init(loop, handle, fd);
  if (rc != 0) {
    delete handle;  // a failed init registers nothing with the loop
    napi_async_destroy(env, asyncContext_);
    asyncContext_ = nullptr;
    throw ErrnoError(env, -rc, "uv_poll_init");
  }
  handle->data = this;
  handle_ = handle;
  env_ = env;
  fd_ = fd;
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  rc = uv_poll_start(handle_, UV_READABLE, OnReadable);
  if (rc != 0) {
    Stop();
    throw ErrnoError(env, -rc, "uv_poll_start");
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
  // Worker threads close their loop at exit and abort if a handle is still open: close it first.
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  cleanupHookAdded_ = true;
}

DoorbellPoll::~DoorbellPoll() {
  Stop();
}

void DoorbellPoll::CleanupHook(void* self) {
  DoorbellPoll* poll = static_cast<DoorbellPoll*>(self);
  poll->cleanupHookAdded_ = false;  // running hooks are already removed
  poll->Stop();
}

void DoorbellPoll::Stop() {
  if (handle_ != nullptr) {
    handle_->data = nullptr;
    uv_poll_stop(handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
    handle_ = nullptr;
  }
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    cleanupHookAdded_ = false;
  }
  if (asyncContext_ != nullptr) {
    napi_async_destroy(env_, asyncContext_);
    asyncContext_ = nullptr;
  }
}

void DoorbellPoll::OnReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<DoorbellPoll*>(handle->data);
  if (self == nullptr) return;
  self->Deliver(status < 0 ? status : DrainFifo(self->fd_));
}

void DoorbellPoll::Deliver(int result) {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it runs the microtasks (the consumer's awaiting read loop) before returning
  // to libuv, exactly like an I/O callback of Node's own.
  try {
    callback_.MakeCallback(Value(), {Napi::Number::New(env, result)}, asyncContext_);
  } catch (const Napi::Error& error) {
    // No JS frame to return to from a libuv callback: report it as an uncaught exception.
    napi_fatal_exception(env_, error.Value());
  }
}

Napi::Value DoorbellPoll::Ref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  return info.Env().Undefined();
}

Napi::Value DoorbellPoll::Unref(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
  return info.Env().Undefined();
}

Napi::Value DoorbellPoll::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

}  // namespace shmring
