// Shared (cross-process) futex wait/wake. Never FUTEX_PRIVATE_FLAG: the words live in MAP_SHARED
// pages and a private futex is keyed by this process's address space, so another process's wake
// would reach no one.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>

namespace shmring {

enum WaitResult : int { kWaitOk = 0, kWaitNotEqual = 1, kWaitTimedOut = 2 };

// A CLOCK_MONOTONIC deadline; `forever` when timeoutMs is Infinity, negative or NaN.
struct Deadline {
  bool forever;
  timespec at;
};
Deadline DeadlineAfterMs(double timeoutMs);
bool DeadlinePassed(const Deadline& deadline);
Deadline EarlierOf(const Deadline& a, const Deadline& b);

// Sleeps while *word == expected. Restarts on EINTR against the same absolute deadline.
// Returns a WaitResult or -errno.
int FutexWait(const uint32_t* word, uint32_t expected, const Deadline& deadline);
// Returns the number of waiters woken or -errno.
int FutexWake(const uint32_t* word, int count);

constexpr size_t kMaxWaitvWords = 128;
// futex_waitv (Linux 5.16+) over words[i] == expected[i]. Returns the index of a woken word (>= 0),
// -ETIMEDOUT, -EAGAIN (some word already differed) or another -errno (-ENOSYS on older kernels).
int FutexWaitv(const uint32_t* const* words, const uint32_t* expected, size_t count,
               const Deadline& deadline);
bool FutexWaitvSupported();

// membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED): returns once every thread of every process registered for
// it has executed a full memory barrier (the consumer's side of the asymmetric publish fence,
// docs/protocol.md). Returns 0 or -errno.
int GlobalMemoryBarrier();

}  // namespace shmring
