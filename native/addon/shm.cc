#include "shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace shmring {

namespace {
// close() must not be retried on EINTR on Linux (the fd is already released); every other call
// here is restarted.
template <typename Call>
int RetryOnEintr(Call call) {
  int rc;
  do {
    rc = call();
  } while (rc == -1 && errno == EINTR);
  return rc == -1 ? -errno : rc;
}
}  // namespace

int ShmOpen(const char* name, ShmOpenFlags flags, mode_t mode) {
  int oflag = O_CLOEXEC | (flags.readWrite ? O_RDWR : O_RDONLY);
  if (flags.create) oflag |= O_CREAT;
  if (flags.create && flags.exclusive) oflag |= O_EXCL;
  return RetryOnEintr([&] { return shm_open(name, oflag, mode); });
}

int ShmUnlink(const char* name) {
  return shm_unlink(name) == -1 ? -errno : 0;
}

int Fstat(int fd, struct stat* out) {
  return fstat(fd, out) == -1 ? -errno : 0;
}

int Fchmod(int fd, mode_t mode) {
  return RetryOnEintr([&] { return fchmod(fd, mode); });
}

int Fchown(int fd, uid_t uid, gid_t gid) {
  return RetryOnEintr([&] { return fchown(fd, uid, gid); });
}

int Ftruncate(int fd, off_t size) {
  return RetryOnEintr([&] { return ftruncate(fd, size); });
}

int Fallocate(int fd, off_t size) {
  if (size == 0) return 0;
  int rc;
  // posix_fallocate returns the error number instead of setting errno.
  do {
    rc = posix_fallocate(fd, 0, size);
  } while (rc == EINTR);
  return -rc;
}

int Close(int fd) {
  return close(fd) == -1 ? -errno : 0;
}

int MapShared(int fd, off_t offset, size_t length, MapOptions options, void** out,
              const char** failedSyscall) {
  int prot = PROT_READ | (options.writable ? PROT_WRITE : 0);
  int flags = MAP_SHARED | (options.populate ? MAP_POPULATE : 0);
  void* address = mmap(nullptr, length, prot, flags, fd, offset);
  if (address == MAP_FAILED) {
    *failedSyscall = "mmap";
    return -errno;
  }
  if (options.hugePages) {
    // Best effort: refused when /sys/kernel/mm/transparent_hugepage/shmem_enabled says never.
    (void)madvise(address, length, MADV_HUGEPAGE);
  }
  if (options.lock && mlock(address, length) == -1) {
    int err = errno;
    munmap(address, length);
    *failedSyscall = "mlock";
    return -err;
  }
  *out = address;
  return 0;
}

int Unmap(void* address, size_t length) {
  return munmap(address, length) == -1 ? -errno : 0;
}

long PageSize() {
  return sysconf(_SC_PAGESIZE);
}

}  // namespace shmring
