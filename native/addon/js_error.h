// Conversions shared by the addon's entry points: errno -> JS Error, and checked access to a 32-bit
// word inside an ArrayBuffer.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace shmring {

// "ENOENT" etc.; "E<number>" when the name is unknown.
std::string ErrnoName(int err);

// An Error whose message names the syscall (and `detail`, e.g. the segment name), with
// `code` (errno name), `errno` (positive number) and `syscall`.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail = "");

// The word at buffer[byteOffset]: throws RangeError unless byteOffset is an integer, 4-byte aligned
// and offset + 4 <= byteLength of a non-detached buffer; TypeError unless `buffer` is an ArrayBuffer.
uint32_t* WordAt(Napi::Env env, const Napi::Value& buffer, const Napi::Value& byteOffset,
                 const char* what);

// Timeout in milliseconds: Infinity, negative or undefined mean forever.
double TimeoutMs(const Napi::Value& value);

}  // namespace shmring
