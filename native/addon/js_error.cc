#include "js_error.h"

#include <cmath>
#include <cstring>

namespace shmring {

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  return "E" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  std::string message = std::string(syscall) + " failed";
  if (!detail.empty()) message += " for " + detail;
  message += ": " + std::string(strerror(err)) + " (" + ErrnoName(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

uint32_t* WordAt(Napi::Env env, const Napi::Value& buffer, const Napi::Value& byteOffset,
                 const char* what) {
  if (!buffer.IsArrayBuffer()) {
    throw Napi::TypeError::New(env, std::string(what) + ": buffer must be an ArrayBuffer");
  }
  Napi::ArrayBuffer arrayBuffer = buffer.As<Napi::ArrayBuffer>();
  void* data = arrayBuffer.Data();
  size_t length = arrayBuffer.ByteLength();
  if (data == nullptr || length == 0) {
    throw Napi::RangeError::New(env, std::string(what) + ": buffer is detached or empty");
  }
  if (!byteOffset.IsNumber()) {
    throw Napi::RangeError::New(env, std::string(what) + ": byteOffset must be a number");
  }
  double offset = byteOffset.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(offset) || offset < 0 || std::floor(offset) != offset ||
      static_cast<uint64_t>(offset) % 4 != 0 || offset + 4 > static_cast<double>(length)) {
    throw Napi::RangeError::New(
        env, std::string(what) + ": byteOffset must be a multiple of 4 with byteOffset + 4 <= " +
                 std::to_string(length) + ", got " + byteOffset.ToString().Utf8Value());
  }
  return reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(data) + static_cast<size_t>(offset));
}

double TimeoutMs(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return -1;
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "timeoutMs must be a number");
  double ms = value.As<Napi::Number>().DoubleValue();
  return std::isnan(ms) ? -1 : ms;
}

}  // namespace shmring
