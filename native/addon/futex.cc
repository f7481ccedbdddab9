#include "futex.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

namespace shmring {

namespace {
constexpr long kNanosPerSecond = 1000000000L;
// Beyond ~30 years a deadline is indistinguishable from forever and would risk time_t overflow.
constexpr double kForeverMs = 1e12;

struct WaitvEntry {  // struct futex_waitv, spelled out for older kernel headers
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
}  // namespace

Deadline DeadlineAfterMs(double timeoutMs) {
  Deadline deadline{};
  if (std::isnan(timeoutMs) || timeoutMs < 0 || timeoutMs >= kForeverMs) {
    deadline.forever = true;
    return deadline;
  }
  clock_gettime(CLOCK_MONOTONIC, &deadline.at);
  double wholeSeconds = std::floor(timeoutMs / 1000.0);
  long nanos = static_cast<long>((timeoutMs - wholeSeconds * 1000.0) * 1e6);
  deadline.at.tv_sec += static_cast<time_t>(wholeSeconds);
  deadline.at.tv_nsec += nanos;
  if (deadline.at.tv_nsec >= kNanosPerSecond) {
    deadline.at.tv_sec += 1;
    deadline.at.tv_nsec -= kNanosPerSecond;
  }
  return deadline;
}

bool DeadlinePassed(const Deadline& deadline) {
  if (deadline.forever) return false;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > deadline.at.tv_sec ||
         (now.tv_sec == deadline.at.tv_sec && now.tv_nsec >= deadline.at.tv_nsec);
}

Deadline EarlierOf(const Deadline& a, const Deadline& b) {
  if (a.forever) return b;
  if (b.forever) return a;
  bool aFirst = a.at.tv_sec < b.at.tv_sec ||
                (a.at.tv_sec == b.at.tv_sec && a.at.tv_nsec <= b.at.tv_nsec);
  return aFirst ? a : b;
}

int FutexWait(const uint32_t* word, uint32_t expected, const Deadline& deadline) {
  for (;;) {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (plain FUTEX_WAIT's is relative),
    // so restarting after EINTR does not stretch the wait. FUTEX_WAKE wakes bitset waiters too.
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected,
                      deadline.forever ? nullptr : &deadline.at, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0) return kWaitOk;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return kWaitNotEqual;
    if (errno == ETIMEDOUT) return kWaitTimedOut;
    return -errno;
  }
}

int FutexWake(const uint32_t* word, int count) {
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return rc == -1 ? -errno : static_cast<int>(rc);
}

int FutexWaitv(const uint32_t* const* words, const uint32_t* expected, size_t count,
               const Deadline& deadline) {
  if (count == 0 || count > kMaxWaitvWords) return -EINVAL;
  WaitvEntry entries[kMaxWaitvWords] = {};
  for (size_t i = 0; i < count; i++) {
    entries[i].val = expected[i];
    entries[i].uaddr = reinterpret_cast<uintptr_t>(words[i]);
    entries[i].flags = FUTEX_32;  // no FUTEX2_PRIVATE: shared futex
  }
  for (;;) {
    long rc = syscall(SYS_futex_waitv, entries, static_cast<unsigned>(count), 0u,
                      deadline.forever ? nullptr : &deadline.at, CLOCK_MONOTONIC);
    if (rc >= 0) return static_cast<int>(rc);
    if (errno == EINTR) continue;
    return -errno;
  }
}

bool FutexWaitvSupported() {
  static const bool supported = [] {
    // An empty vector is EINVAL where the syscall exists and ENOSYS where it does not.
    long rc = syscall(SYS_futex_waitv, nullptr, 0u, 0u, nullptr, CLOCK_MONOTONIC);
    return !(rc == -1 && errno == ENOSYS);
  }();
  return supported;
}

int GlobalMemoryBarrier() {
  long rc = syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0u, 0);
  return rc == -1 ? -errno : 0;
}

}  // namespace shmring
