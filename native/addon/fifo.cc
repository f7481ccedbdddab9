#include "fifo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace shmring {

int MakeFifo(const char* path, mode_t mode) {
  return mkfifo(path, mode) == -1 ? -errno : 0;
}

int OpenFifo(const char* path, bool forWriting) {
  int flags = O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | (forWriting ? O_WRONLY : O_RDONLY);
  int fd;
  do {
    fd = open(path, flags);
  } while (fd == -1 && errno == EINTR);
  if (fd == -1) return -errno;
  struct stat st;
  if (fstat(fd, &st) == -1) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (!S_ISFIFO(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  return fd;
}

int RingFifo(int fd) {
  const char byte = 1;
  for (;;) {
    ssize_t written = write(fd, &byte, 1);
    if (written == 1) return 1;
    if (written == -1 && errno == EINTR) continue;
    if (written == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return written == -1 ? -errno : -EIO;
  }
}

int DrainFifo(int fd) {
  char buffer[64];
  int drained = 0;
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got > 0) {
      drained += static_cast<int>(got);
      continue;
    }
    if (got == 0) return drained;  // no writer at all (cannot happen while the owner holds one)
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return drained;
    return -errno;
  }
}

int UnlinkPath(const char* path) {
  return unlink(path) == -1 ? -errno : 0;
}

}  // namespace shmring
