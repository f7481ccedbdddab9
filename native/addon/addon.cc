// The addon's entry points: argument checks, result conversion and errno -> JS Error. The work is
// in shm.cc, futex.cc, fifo.cc, waiter.cc, doorbell_poll.cc and exit_watcher.cc.
#include <napi.h>

#include <cerrno>
#include <cmath>
#include <mutex>
#include <string>
#include <unordered_map>

#include "doorbell_poll.h"
#include "exit_watcher.h"
#include "fifo.h"
#include "futex.h"
#include "js_error.h"
#include "shm.h"
#include "waiter.h"

namespace shmring {
namespace {

// ---- argument helpers ------------------------------------------------------------------------

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

// A non-negative integer that a double represents exactly.
double UintArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  }
  double value = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(value) || value < 0 || std::floor(value) != value || value > 9007199254740991.0) {
    throw Napi::RangeError::New(info.Env(),
                                std::string(what) + " must be a non-negative integer, got " +
                                    info[i].ToString().Utf8Value());
  }
  return value;
}

int FdArg(const Napi::CallbackInfo& info, size_t i) {
  double fd = UintArg(info, i, "fd");
  if (fd > 0x7fffffff) throw Napi::RangeError::New(info.Env(), "fd out of range");
  return static_cast<int>(fd);
}

bool BoolProperty(const Napi::Object& object, const char* key) {
  return object.Has(key) && object.Get(key).ToBoolean().Value();
}

void Check(Napi::Env env, int rc, const char* syscall, const std::string& detail = "") {
  if (rc < 0) throw ErrnoError(env, -rc, syscall, detail);
}

// ---- segments --------------------------------------------------------------------------------

Napi::Value JsShmOpen(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  if (info.Length() < 2 || !info[1].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "flags must be { create, exclusive, readWrite }");
  }
  Napi::Object flags = info[1].As<Napi::Object>();
  mode_t mode = static_cast<mode_t>(UintArg(info, 2, "mode")) & 07777;
  int fd = ShmOpen(name.c_str(),
                   {BoolProperty(flags, "create"), BoolProperty(flags, "exclusive"),
                    BoolProperty(flags, "readWrite")},
                   mode);
  Check(info.Env(), fd, "shm_open", name);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value JsShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  Check(info.Env(), ShmUnlink(name.c_str()), "shm_unlink", name);
  return info.Env().Undefined();
}

Napi::Value JsFstat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct stat st;
  Check(env, Fstat(FdArg(info, 0), &st), "fstat");
  Napi::Object result = Napi::Object::New(env);
  result.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  result.Set("uid", Napi::Number::New(env, st.st_uid));
  result.Set("gid", Napi::Number::New(env, st.st_gid));
  result.Set("mode", Napi::Number::New(env, st.st_mode));
  result.Set("ino", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  result.Set("dev", Napi::Number::New(env, static_cast<double>(st.st_dev)));
  return result;
}

Napi::Value JsFchmod(const Napi::CallbackInfo& info) {
  Check(info.Env(), Fchmod(FdArg(info, 0), static_cast<mode_t>(UintArg(info, 1, "mode")) & 07777),
        "fchmod");
  return info.Env().Undefined();
}

Napi::Value JsFchown(const Napi::CallbackInfo& info) {
  // -1 (as 0xffffffff) leaves an id unchanged, as with fchown(2).
  auto id = [&](size_t i) -> uint32_t {
    if (info.Length() > i && info[i].IsNumber() && info[i].As<Napi::Number>().Int64Value() == -1) {
      return static_cast<uint32_t>(-1);
    }
    return static_cast<uint32_t>(UintArg(info, i, i == 1 ? "uid" : "gid"));
  };
  Check(info.Env(), Fchown(FdArg(info, 0), id(1), id(2)), "fchown");
  return info.Env().Undefined();
}

Napi::Value JsFtruncate(const Napi::CallbackInfo& info) {
  Check(info.Env(), Ftruncate(FdArg(info, 0), static_cast<off_t>(UintArg(info, 1, "size"))),
        "ftruncate");
  return info.Env().Undefined();
}

Napi::Value JsFallocate(const Napi::CallbackInfo& info) {
  Check(info.Env(), Fallocate(FdArg(info, 0), static_cast<off_t>(UintArg(info, 1, "size"))),
        "posix_fallocate");
  return info.Env().Undefined();
}

Napi::Value JsClose(const Napi::CallbackInfo& info) {
  Check(info.Env(), Close(FdArg(info, 0)), "close");
  return info.Env().Undefined();
}

// ---- mappings --------------------------------------------------------------------------------
//
// Node implements external ArrayBuffers as Buffers whose finalizer runs on a later turn of the
// event loop (SetImmediate) once V8 drops the backing store: after GC, after Detach(), or at
// environment teardown. munmap() and the finalizer can therefore both come for the same mapping, in
// either order. The record below is shared by both paths: whoever takes the address out of
// `liveMappings` unmaps it (exactly once); the finalizer always frees the record.

struct Mapping {
  void* address;
  size_t length;
};

std::mutex mappingsMutex;  // worker threads have their own envs but share this process's mappings
std::unordered_map<void*, Mapping*> liveMappings;

// Removes `mapping` from the live set; true when the caller now owns the unmapping.
bool TakeLive(Mapping* mapping) {
  std::lock_guard<std::mutex> lock(mappingsMutex);
  auto it = liveMappings.find(mapping->address);
  if (it == liveMappings.end() || it->second != mapping) return false;
  liveMappings.erase(it);
  return true;
}

void FinalizeMapping(napi_env, void*, void* hint) {
  Mapping* mapping = static_cast<Mapping*>(hint);
  if (TakeLive(mapping)) Unmap(mapping->address, mapping->length);
  delete mapping;
}

Napi::Value JsMmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  double offset = UintArg(info, 1, "offset");
  double length = UintArg(info, 2, "length");
  if (length == 0) throw Napi::RangeError::New(env, "mmap: length must be > 0");
  MapOptions options{};
  options.writable = info.Length() > 3 && info[3].ToBoolean().Value();
  if (info.Length() > 4 && info[4].IsObject()) {
    Napi::Object object = info[4].As<Napi::Object>();
    options.populate = BoolProperty(object, "populate");
    options.lock = BoolProperty(object, "lock");
    options.hugePages = BoolProperty(object, "hugePages");
  }
  void* address = nullptr;
  const char* failedSyscall = "mmap";
  int rc = MapShared(fd, static_cast<off_t>(offset), static_cast<size_t>(length), options, &address,
                     &failedSyscall);
  Check(env, rc, failedSyscall);

  Mapping* mapping = new Mapping{address, static_cast<size_t>(length)};
  {
    std::lock_guard<std::mutex> lock(mappingsMutex);
    liveMappings[address] = mapping;
  }
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, address, mapping->length,
                                                        FinalizeMapping, mapping, &buffer);
  if (status != napi_ok) {
    TakeLive(mapping);
    Unmap(address, mapping->length);
    delete mapping;
    if (status == napi_no_external_buffers_allowed) {
      throw Napi::Error::New(
          env,
          "shmring: this runtime refuses external ArrayBuffers (napi_no_external_buffers_allowed, "
          "e.g. Electron with the V8 memory cage), so shared memory cannot be mapped into JS here");
    }
    throw Napi::Error::New(env, "napi_create_external_arraybuffer failed (status " +
                                    std::to_string(status) + ")");
  }
  return Napi::Value(env, buffer);
}

Napi::Value JsMunmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    throw Napi::TypeError::New(env, "munmap: argument must be an ArrayBuffer from mmap()");
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* address = buffer.Data();
  if (address == nullptr) return env.Undefined();  // already detached: munmap is idempotent
  Mapping* mapping = nullptr;
  {
    std::lock_guard<std::mutex> lock(mappingsMutex);
    auto it = liveMappings.find(address);
    if (it == liveMappings.end() || it->second->length != buffer.ByteLength()) {
      throw Napi::TypeError::New(env, "munmap: this ArrayBuffer was not created by mmap()");
    }
    mapping = it->second;
    liveMappings.erase(it);
  }
  size_t length = mapping->length;
  // Detach first so no JS view can reach the pages once they are gone. The finalizer may run
  // later (it then only frees the record), so `mapping` is not touched after this point.
  buffer.Detach();
  Check(env, Unmap(address, length), "munmap");
  return env.Undefined();
}

// ---- doorbell FIFOs -------------------------------------------------------------------------

Napi::Value JsMkfifo(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  Check(info.Env(), MakeFifo(path.c_str(), static_cast<mode_t>(UintArg(info, 1, "mode")) & 0777),
        "mkfifo", path);
  return info.Env().Undefined();
}

Napi::Value JsOpenFifo(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  bool forWriting = info.Length() > 1 && info[1].ToBoolean().Value();
  int fd = OpenFifo(path.c_str(), forWriting);
  Check(info.Env(), fd, "open", path);
  return Napi::Number::New(info.Env(), fd);
}

// 1 rung, 0 already rung (full), or -errno: the producer's hot path handles EPIPE/EBADF without an
// exception.
Napi::Value JsRingFifo(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), RingFifo(FdArg(info, 0)));
}

Napi::Value JsUnlink(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  Check(info.Env(), UnlinkPath(path.c_str()), "unlink", path);
  return info.Env().Undefined();
}

// ---- futex -----------------------------------------------------------------------------------

Napi::Value JsFutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word = WordAt(env, info[0], info[1], "futexWait");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "futexWait: expected must be a number");
  uint32_t expected = static_cast<uint32_t>(info[2].As<Napi::Number>().Int64Value());
  int rc = FutexWait(word, expected, DeadlineAfterMs(TimeoutMs(info[3])));
  Check(env, rc, "futex");
  return Napi::Number::New(env, rc);
}

Napi::Value JsFutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word = WordAt(env, info[0], info[1], "futexWake");
  int count = 0x7fffffff;
  if (info.Length() > 2 && info[2].IsNumber()) {
    double requested = info[2].As<Napi::Number>().DoubleValue();
    if (!(requested >= 0)) throw Napi::RangeError::New(env, "futexWake: count must be >= 0");
    if (requested < count) count = static_cast<int>(requested);
  }
  int rc = FutexWake(word, count);
  Check(env, rc, "futex");
  return Napi::Number::New(env, rc);
}

Napi::Value JsFutexWaitAny(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "futexWaitAny(buffers, byteOffsets, expected, timeoutMs)");
  }
  Napi::Array buffers = info[0].As<Napi::Array>();
  Napi::Array offsets = info[1].As<Napi::Array>();
  Napi::Array expectedValues = info[2].As<Napi::Array>();
  uint32_t count = buffers.Length();
  if (count == 0 || count > kMaxWaitvWords || offsets.Length() != count ||
      expectedValues.Length() != count) {
    throw Napi::RangeError::New(env, "futexWaitAny: 1.." + std::to_string(kMaxWaitvWords) +
                                         " words, with as many byteOffsets and expected values");
  }
  const uint32_t* words[kMaxWaitvWords];
  uint32_t expected[kMaxWaitvWords];
  for (uint32_t i = 0; i < count; i++) {
    words[i] = WordAt(env, buffers.Get(i), offsets.Get(i), "futexWaitAny");
    Napi::Value value = expectedValues.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "futexWaitAny: expected must be numbers");
    expected[i] = static_cast<uint32_t>(value.As<Napi::Number>().Int64Value());
  }
  int rc = FutexWaitv(words, expected, count, DeadlineAfterMs(TimeoutMs(info[3])));
  if (rc == -ETIMEDOUT) return Napi::Number::New(env, -1);
  if (rc == -EAGAIN) return Napi::Number::New(env, -2);
  if (rc == -ENOSYS) {
    Napi::Error error = ErrnoError(env, ENOSYS, "futex_waitv");
    error.Set("message", Napi::String::New(env, "futex_waitv is not available: waiting on several "
                                                "words needs Linux 5.16 or newer"));
    throw error;
  }
  Check(env, rc, "futex_waitv");
  return Napi::Number::New(env, rc);
}

Napi::Value JsPageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(PageSize()));
}

Napi::Value JsFutexWaitvSupported(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), FutexWaitvSupported());
}

Napi::Value JsMembarrierGlobal(const Napi::CallbackInfo& info) {
  Check(info.Env(), GlobalMemoryBarrier(), "membarrier");
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("shmOpen", Napi::Function::New<JsShmOpen>(env, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New<JsShmUnlink>(env, "shmUnlink"));
  exports.Set("fstat", Napi::Function::New<JsFstat>(env, "fstat"));
  exports.Set("fchmod", Napi::Function::New<JsFchmod>(env, "fchmod"));
  exports.Set("fchown", Napi::Function::New<JsFchown>(env, "fchown"));
  exports.Set("ftruncate", Napi::Function::New<JsFtruncate>(env, "ftruncate"));
  exports.Set("fallocate", Napi::Function::New<JsFallocate>(env, "fallocate"));
  exports.Set("close", Napi::Function::New<JsClose>(env, "close"));
  exports.Set("mmap", Napi::Function::New<JsMmap>(env, "mmap"));
  exports.Set("munmap", Napi::Function::New<JsMunmap>(env, "munmap"));
  exports.Set("futexWait", Napi::Function::New<JsFutexWait>(env, "futexWait"));
  exports.Set("futexWake", Napi::Function::New<JsFutexWake>(env, "futexWake"));
  exports.Set("futexWaitAny", Napi::Function::New<JsFutexWaitAny>(env, "futexWaitAny"));
  exports.Set("pageSize", Napi::Function::New<JsPageSize>(env, "pageSize"));
  exports.Set("futexWaitvSupported",
              Napi::Function::New<JsFutexWaitvSupported>(env, "futexWaitvSupported"));
  exports.Set("membarrierGlobal", Napi::Function::New<JsMembarrierGlobal>(env, "membarrierGlobal"));
  exports.Set("mkfifo", Napi::Function::New<JsMkfifo>(env, "mkfifo"));
  exports.Set("openFifo", Napi::Function::New<JsOpenFifo>(env, "openFifo"));
  exports.Set("ringFifo", Napi::Function::New<JsRingFifo>(env, "ringFifo"));
  exports.Set("unlink", Napi::Function::New<JsUnlink>(env, "unlink"));
  exports.Set("DoorbellPoll", DoorbellPoll::Define(env));
  exports.Set("Waiter", Waiter::Define(env));
  exports.Set("ProcessWatcher", ProcessWatcher::Define(env));
  return exports;
}

}  // namespace
}  // namespace shmring

static Napi::Object InitShmring(Napi::Env env, Napi::Object exports) {
  return shmring::Init(env, exports);
}

NODE_API_MODULE(shmring, InitShmring)
