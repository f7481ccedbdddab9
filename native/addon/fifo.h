// FIFOs used as doorbells: plain C++ with no Node types. Every function returns a non-negative result
// or -errno; the caller (addon.cc) turns failures into JS errors.
#pragma once

#include <sys/types.h>

namespace shmring {

// mkfifo(path, mode): the umask still applies, so callers fchmod the opened fd afterwards.
int MakeFifo(const char* path, mode_t mode);

// Opens an existing FIFO O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW, for reading or for writing. Returns the fd,
// or -errno: -ENXIO when opened for writing with no reader, -EINVAL (after closing it) when the path is
// not a FIFO, so a writer never writes into a regular file planted at a bell's path.
int OpenFifo(const char* path, bool forWriting);

// Writes one byte. Returns 1 when written, 0 when the FIFO is full (EAGAIN: the bell is already rung),
// or -errno (-EPIPE: nobody reads it any more).
int RingFifo(int fd);

// Reads until the FIFO is empty. Returns the number of bytes drained, or -errno.
int DrainFifo(int fd);

// unlink(path).
int UnlinkPath(const char* path);

}  // namespace shmring
