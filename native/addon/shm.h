// Named POSIX shared memory and mappings. Plain C++ with no Node types: every function returns
// a non-negative result or -errno, and the caller (addon.cc) turns failures into JS errors.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace shmring {

struct ShmOpenFlags {
  bool create;
  bool exclusive;
  bool readWrite;
};

// Returns the fd (O_CLOEXEC) or -errno.
int ShmOpen(const char* name, ShmOpenFlags flags, mode_t mode);
int ShmUnlink(const char* name);
int Fstat(int fd, struct stat* out);
int Fchmod(int fd, mode_t mode);
int Fchown(int fd, uid_t uid, gid_t gid);
int Ftruncate(int fd, off_t size);
// posix_fallocate over [0, size): reserves tmpfs pages now, so a full /dev/shm is ENOSPC here
// instead of SIGBUS on first touch later.
int Fallocate(int fd, off_t size);
int Close(int fd);

struct MapOptions {
  bool writable;
  bool populate;   // MAP_POPULATE: prefault every page now
  bool lock;       // mlock: pin the pages in RAM
  bool hugePages;  // madvise(MADV_HUGEPAGE), best effort
};

// Maps [offset, offset + length) of fd MAP_SHARED. On failure returns -errno and sets *failedSyscall
// to "mmap" or "mlock" (nothing stays mapped after a failure).
int MapShared(int fd, off_t offset, size_t length, MapOptions options, void** out,
              const char** failedSyscall);
int Unmap(void* address, size_t length);

long PageSize();

}  // namespace shmring
