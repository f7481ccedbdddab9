// DoorbellPoll: libuv polls a doorbell FIFO on the JS thread's own event loop (uv_poll), so a ring of
// the bell wakes the loop directly: one hop, no helper thread. When the FIFO becomes readable the poll
// drains it and calls the JS callback with the number of bytes drained (or -errno).
//
// It does not own the fd: JS opens and closes it, and must close() the poll first.
#pragma once

#include <napi.h>
#include <uv.h>

namespace shmring {

class DoorbellPoll : public Napi::ObjectWrap<DoorbellPoll> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit DoorbellPoll(const Napi::CallbackInfo& info);
  ~DoorbellPoll() override;

 private:
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void CleanupHook(void* self);
  void Deliver(int result);
  void Stop();  // idempotent: stops polling and hands the handle to uv_close, which frees it

  napi_env env_ = nullptr;
  int fd_ = -1;
  uv_poll_t* handle_ = nullptr;  // freed by uv_close's callback
  Napi::FunctionReference callback_;
  napi_async_context asyncContext_ = nullptr;
  bool cleanupHookAdded_ = false;
};

}  // namespace shmring
