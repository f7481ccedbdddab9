/*
 * shmring C client: the producer and consumer sides of the protocol in docs/protocol.md (layout 2), a port
 * of src/ring/{writer,reader,join,slots,create,open,space-wait}.ts. Every offset comes from the generated
 * shmring_layout.h. Everything read from shared memory is validated before use: a damaged or hostile
 * segment gives SHMRING_ERR_CORRUPT_SEGMENT, never an out-of-bounds access or an endless loop.
 *
 * Size: one translation unit on purpose (the whole client is this file plus two headers, easy to vendor).
 */
#define _GNU_SOURCE
#include "shmring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIRECTORY "/dev/shm"
/* Doorbell FIFOs: SHM_DIRECTORY/BELL_NAME_PREFIX<RING_ID, 32 hex digits>-<slot> (src/ring/bells.ts). */
#define BELL_NAME_PREFIX ".shmring-bell-"
#define CREATING_PREFIX "/.shmring-creating-"
#define DEFAULT_CAPACITY (1u << 20)
#define DEFAULT_MODE 0600u
#define DEFAULT_LIVENESS_INTERVAL_MS 500u
#define INIT_TIMEOUT_MS 2000
#define MAX_ABORT_PAYLOAD_LENGTH 4096u
#define MAX_RESYNCS 8
#define MAX_SKIPS_PER_READ 4
/* How often a sleeping consumer checks that its producer lives (a test program may set it before including this). */
#ifndef PRODUCER_CHECK_INTERVAL_MS
#define PRODUCER_CHECK_INTERVAL_MS 100
#endif
/* A read-only consumer cannot announce its sleep: it polls (and hears the wakes meant for the others). */
#define READ_ONLY_POLL_MS 10
/* How long close() with wipe_on_close waits for tethered consumers to read everything (producer.ts). */
#define WIPE_DRAIN_MS 1000
/* shmring_send_wait's spin for space before it sleeps (the consumer's default spin for data is the same). */
#define DEFAULT_SPIN_MICROSECONDS 50

/*
 * A test seam: test/c/lapped_reader.c defines it (before including this file) to make a producer lap the
 * reader between two of its steps, deterministically. Nothing otherwise.
 */
#ifndef SHMRING_TEST_AFTER_RESYNC
#define SHMRING_TEST_AFTER_RESYNC(consumer) ((void)0)
#endif

/* ------------------------------------------------------------------------------------------------ */
/* Words of shared memory                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/* A 32-bit word of the segment at byte offset `offset` of `base` (offsets from the generated layout). */
#define WORD(base, offset) ((uint32_t *)((unsigned char *)(base) + (offset)))
#define DWORD(base, offset) ((uint64_t *)((unsigned char *)(base) + (offset)))
#define F64(base, offset) ((double *)((unsigned char *)(base) + (offset)))

static inline uint32_t load32(const void *base, size_t offset) {
  return __atomic_load_n(WORD(base, offset), __ATOMIC_SEQ_CST);
}
static inline void store32(void *base, size_t offset, uint32_t value) {
  __atomic_store_n(WORD(base, offset), value, __ATOMIC_SEQ_CST);
}
/* Plain (relaxed) loads of words another process may change: read once, so what is validated is used. */
static inline uint32_t peek32(const void *base, size_t offset) {
  return __atomic_load_n(WORD(base, offset), __ATOMIC_RELAXED);
}
static inline int cas32(void *base, size_t offset, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(WORD(base, offset), &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline double peekf64(const void *base, size_t offset) {
  double value;
  memcpy(&value, (const unsigned char *)base + offset, sizeof value);
  return value;
}
static inline void putf64(void *base, size_t offset, double value) {
  memcpy((unsigned char *)base + offset, &value, sizeof value);
}

/*
 * Loads a 64-bit pair (low word at `offset`, high word after it) consistently: high, low, high until the
 * two high words agree (the pair only grows; bounded against a hostile writer), as memory.ts loadPair.
 */
static uint64_t load_pair(const void *base, size_t offset) {
  uint32_t high = load32(base, offset + 4);
  uint32_t low = 0;
  for (int attempt = 0; attempt < 64; attempt++) {
    low = load32(base, offset);
    uint32_t again = load32(base, offset + 4);
    if (again == high) break;
    high = again;
  }
  return ((uint64_t)high << 32) | low;
}

/*
 * Stores a 64-bit pair: one 64-bit atomic store when the high word changes (`high_stored` remembers the
 * high word last stored), otherwise the low word alone (the same 64-bit value), as the TypeScript writer.
 */
static inline void store_pair_ordered(void *base, size_t offset, uint64_t value, uint32_t *high_stored, int order) {
  uint32_t high = (uint32_t)(value >> 32);
  if (high == *high_stored) {
    __atomic_store_n(WORD(base, offset), (uint32_t)value, order);
  } else {
    __atomic_store_n(DWORD(base, offset), value, order);
    *high_stored = high;
  }
}

static inline void store_pair(void *base, size_t offset, uint64_t value, uint32_t *high_stored) {
  store_pair_ordered(base, offset, value, high_stored, __ATOMIC_SEQ_CST);
}

static long futex(void *address, int op, uint32_t value, const struct timespec *timeout) {
  /* Plain FUTEX_WAIT/FUTEX_WAKE, never FUTEX_PRIVATE_FLAG: the sleepers are in other processes. */
  return syscall(SYS_futex, address, op, value, timeout, NULL, 0);
}

static void futex_wait_ms(void *address, uint32_t expected, int timeout_ms) {
  struct timespec timeout = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  futex(address, FUTEX_WAIT, expected, timeout_ms < 0 ? NULL : &timeout);
}

static void futex_wake_all(void *address) { futex(address, FUTEX_WAKE, 0x7fffffff, NULL); }

/*
 * The asymmetric publish fence (docs/protocol.md, "The publish fence"). A producer's process registers
 * before it asks for the fence; a consumer about to sleep on a MEMBARRIER ring calls membarrier so that
 * every registered producer has executed a full barrier before the consumer re-checks the tail.
 */
static int register_for_membarrier(void) {
  /* Asked at every creation and takeover rather than remembered: an already registered process returns at
   * once, and the library keeps no global state. (Registration survives fork and is cleared by exec.) */
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
}
static int fence_registered_processes(void) { return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0; }

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static double wall_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000);
}

static void sleep_ms(int ms) {
  struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&pause, NULL);
}

/*
 * Busy-polls `ready(ctx)` for up to `microseconds`, with a pause between polls: a waiter that spins briefly
 * sees a change in ~100 ns where a futex sleep and wake cost tens of µs. Returns ready's first non-zero
 * result, or 0 when the time ran out.
 */
static int spin_for(int (*ready)(void *ctx), void *ctx, uint32_t microseconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int result = ready(ctx);
    if (result != 0) return result;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000 >= (int64_t)microseconds) return 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

static inline uint64_t record_length(uint32_t payload_length) {
  return shmring_layout_record_length((uint64_t)payload_length);
}

/* ------------------------------------------------------------------------------------------------ */
/* Status names                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

const char *shmring_strerror(int status) {
  switch (status) {
    case SHMRING_OK: return "OK";
    case SHMRING_FULL: return "FULL";
    case SHMRING_EMPTY: return "EMPTY";
    case SHMRING_END: return "END";
    case SHMRING_ERR_SEGMENT_EXISTS: return "SEGMENT_EXISTS";
    case SHMRING_ERR_SEGMENT_NOT_FOUND: return "SEGMENT_NOT_FOUND";
    case SHMRING_ERR_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case SHMRING_ERR_NO_SPACE: return "NO_SPACE";
    case SHMRING_ERR_SEGMENT_TOO_SMALL: return "SEGMENT_TOO_SMALL";
    case SHMRING_ERR_LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
    case SHMRING_ERR_CLOSED: return "CLOSED";
    case SHMRING_ERR_SYSTEM_ERROR: return "SYSTEM_ERROR";
    case SHMRING_ERR_INCOMPATIBLE_VERSION: return "INCOMPATIBLE_VERSION";
    case SHMRING_ERR_CORRUPT_SEGMENT: return "CORRUPT_SEGMENT";
    case SHMRING_ERR_NOT_A_RING: return "NOT_A_RING";
    case SHMRING_ERR_PRODUCER_ALIVE: return "PRODUCER_ALIVE";
    case SHMRING_ERR_PRODUCER_DIED: return "PRODUCER_DIED";
    case SHMRING_ERR_PRODUCER_ABORTED: return "PRODUCER_ABORTED";
    case SHMRING_ERR_MESSAGE_TOO_LARGE: return "MESSAGE_TOO_LARGE";
    case SHMRING_ERR_NO_FREE_SLOT: return "NO_FREE_SLOT";
    case SHMRING_ERR_CONSUMER_EVICTED: return "CONSUMER_EVICTED";
    case SHMRING_ERR_TIMEOUT: return "TIMEOUT";
    case SHMRING_ERR_INIT_TIMEOUT: return "INIT_TIMEOUT";
    case SHMRING_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case SHMRING_ERR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case SHMRING_ERR_FOREIGN_OWNER: return "FOREIGN_OWNER";
    case SHMRING_ERR_RING_REPLACED: return "RING_REPLACED";
    default: return "UNKNOWN";
  }
}

/* errno of a failed system call as a status, the same mapping as src/errors.ts fromSystemError. */
static int from_errno(int error) {
  switch (error) {
    case ENOENT: return SHMRING_ERR_SEGMENT_NOT_FOUND;
    case EEXIST: return SHMRING_ERR_SEGMENT_EXISTS;
    case EACCES: case EPERM: return SHMRING_ERR_PERMISSION_DENIED;
    case ENOSPC: case EFBIG: return SHMRING_ERR_NO_SPACE;
    case EMFILE: case ENFILE: case ENOMEM: return SHMRING_ERR_LIMIT_EXCEEDED;
    default: return SHMRING_ERR_SYSTEM_ERROR;
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Liveness (src/core/liveness.ts): pid + start time (/proc/<pid>/stat field 22) + pid namespace inode */
/* ------------------------------------------------------------------------------------------------ */

typedef struct identity {
  int32_t pid;
  double start_time;
  double pid_namespace;
} identity;

enum liveness { ALIVE, DEAD, UNKNOWN };

/* Reads the state letter and start time of `pid`; 0 when it does not exist (or cannot be read). */
static int read_process_stat(int32_t pid, char *state, double *start_time) {
  if (pid <= 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[1024];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  /* The command name (field 2) may contain spaces and ')': the fields we need follow the last ')'. */
  char *close_paren = strrchr(text, ')');
  if (close_paren == NULL || close_paren[1] != ' ' || close_paren[2] == 0) return 0;
  char *field = close_paren + 2; /* field 3: state */
  *state = field[0];
  for (int index = 3; index < 22; index++) {
    field = strchr(field, ' ');
    if (field == NULL) return 0;
    field++;
  }
  *start_time = strtod(field, NULL);
  return 1;
}

static double current_pid_namespace(void) {
  struct stat info;
  if (stat("/proc/self/ns/pid", &info) != 0) return 0;
  return (double)info.st_ino;
}

static identity current_process(void) {
  identity me = {(int32_t)getpid(), 0, current_pid_namespace()};
  char state;
  if (!read_process_stat(me.pid, &state, &me.start_time)) me.start_time = 0;
  return me;
}

static enum liveness liveness(identity who) {
  if (who.pid <= 0) return DEAD;
  double ns = current_pid_namespace();
  if (who.pid_namespace != 0 && ns != 0 && who.pid_namespace != ns) return UNKNOWN;
  char state;
  double start_time;
  if (!read_process_stat(who.pid, &state, &start_time)) return DEAD;
  if (state == 'Z' || state == 'X' || state == 'x') return DEAD;
  if (who.start_time != 0 && start_time != who.start_time) return DEAD; /* pid reused */
  return ALIVE;
}

/* ------------------------------------------------------------------------------------------------ */
/* Geometry, opening and mapping (src/ring/header.ts, open.ts)                                       */
/* ------------------------------------------------------------------------------------------------ */

typedef struct geometry {
  uint32_t control_length;
  uint32_t capacity;
  uint32_t max_message_length;
  uint32_t max_consumers;
} geometry;

static int is_power_of_two(uint32_t value) { return value != 0 && (value & (value - 1)) == 0; }

static int has_magic(const unsigned char *bytes) {
  static const unsigned char magic[SHMRING_MAGIC_LENGTH] = SHMRING_MAGIC_BYTES;
  return memcmp(bytes + SHMRING_MAGIC_OFFSET, magic, SHMRING_MAGIC_LENGTH) == 0;
}

static int is_blank(const unsigned char *bytes) {
  for (int i = 0; i < SHMRING_MAGIC_LENGTH; i++) if (bytes[i] != 0) return 0;
  return 1;
}

/* Validates the header of a segment of `size` bytes, as header.ts readGeometry. */
static int read_geometry(const void *page, uint64_t size, geometry *out) {
  if (!has_magic(page)) return SHMRING_ERR_NOT_A_RING;
  if (load32(page, SHMRING_LAYOUT_VERSION_OFFSET) != SHMRING_LAYOUT_VERSION) return SHMRING_ERR_INCOMPATIBLE_VERSION;
  geometry g = {
    peek32(page, SHMRING_CONTROL_LENGTH_OFFSET),
    peek32(page, SHMRING_CAPACITY_OFFSET),
    peek32(page, SHMRING_MAX_MESSAGE_LENGTH_OFFSET),
    peek32(page, SHMRING_MAX_CONSUMERS_OFFSET),
  };
  if (g.max_consumers < 1 || g.max_consumers > SHMRING_MAX_CONSUMERS_LIMIT) return SHMRING_ERR_CORRUPT_SEGMENT;
  if (g.control_length != shmring_layout_control_length(g.max_consumers)) return SHMRING_ERR_CORRUPT_SEGMENT;
  if (!is_power_of_two(g.capacity) || g.capacity < SHMRING_MIN_CAPACITY || g.capacity > SHMRING_MAX_CAPACITY) {
    return SHMRING_ERR_CORRUPT_SEGMENT;
  }
  if (g.max_message_length < 1 || g.max_message_length > g.capacity / 2 - SHMRING_RECORD_HEADER_LENGTH) {
    return SHMRING_ERR_CORRUPT_SEGMENT;
  }
  if ((uint64_t)g.control_length + g.capacity > size) return SHMRING_ERR_CORRUPT_SEGMENT;
  *out = g;
  return SHMRING_OK;
}

/* A ring's mappings. The producer maps everything read-write at `control`; a consumer maps the control
 * region and the data read-only and the consumers' pages a second time, read-write, at `consumer_pages`. */
typedef struct mapping {
  int fd;
  geometry g;
  unsigned char *control;        /* the control region (producer: rw, consumer: r-) */
  unsigned char *consumer_pages; /* CONSUMER_REGION_OFFSET .. control_length, rw (the producer: inside control) */
  unsigned char *data;           /* the data region (producer: rw, consumer: r-) */
  int own_consumer_pages;        /* consumer_pages is a separate mapping */
  int read_only;                 /* opened read-only (a user who may only read the segment): everything r- */
  dev_t dev;
  ino_t ino;
} mapping;

/* Address of a word of the consumers' pages given by its segment offset. */
#define CONSUMER(m, offset) ((m)->consumer_pages + ((offset) - SHMRING_CONSUMER_REGION_OFFSET))

static void unmap(mapping *m) {
  if (m->control != NULL) munmap(m->control, m->g.control_length);
  if (m->data != NULL) munmap(m->data, m->g.capacity);
  if (m->own_consumer_pages && m->consumer_pages != NULL) {
    munmap(m->consumer_pages, m->g.control_length - SHMRING_CONSUMER_REGION_OFFSET);
  }
  if (m->fd >= 0) close(m->fd);
  memset(m, 0, sizeof *m);
  m->fd = -1;
}

static int shm_path(const char *name, char *path, size_t size) {
  if (name == NULL || name[0] != '/' || strchr(name + 1, '/') != NULL || strlen(name) < 2 || strlen(name) > 250) {
    return SHMRING_ERR_INVALID_ARGUMENT;
  }
  snprintf(path, size, SHM_DIRECTORY "%s", name);
  return SHMRING_OK;
}

/*
 * Opens and maps an existing ring: fstat (at least a page, owned by us), wait (bounded) for its creator to
 * write LAYOUT_VERSION, validate the header against the real size, map (`producer`: all rw).
 */
static int open_ring(const char *name, int producer, int allow_foreign_owner, int read_only_fallback, mapping *m) {
  char path[300];
  int status = shm_path(name, path, sizeof path);
  if (status != SHMRING_OK) return status;
  memset(m, 0, sizeof *m);
  m->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (m->fd < 0 && errno == EACCES && read_only_fallback) {
    /* We may only read it: an untethered consumer without a slot (open.ts readOnlyFallback). */
    m->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    m->read_only = m->fd >= 0;
  }
  if (m->fd < 0) return from_errno(errno);
  struct stat info;
  if (fstat(m->fd, &info) != 0) {
    status = from_errno(errno);
    goto fail;
  }
  m->dev = info.st_dev;
  m->ino = info.st_ino;
  if (!S_ISREG(info.st_mode)) {
    status = SHMRING_ERR_NOT_A_RING;
    goto fail;
  }
  if (info.st_size < SHMRING_PAGE_LENGTH) {
    status = SHMRING_ERR_SEGMENT_TOO_SMALL;
    goto fail;
  }
  if (!allow_foreign_owner && info.st_uid != geteuid()) {
    status = SHMRING_ERR_FOREIGN_OWNER;
    goto fail;
  }
  void *probe = mmap(NULL, SHMRING_PAGE_LENGTH, PROT_READ, MAP_SHARED, m->fd, 0);
  if (probe == MAP_FAILED) {
    status = from_errno(errno);
    goto fail;
  }
  int64_t deadline = now_ms() + INIT_TIMEOUT_MS;
  while (load32(probe, SHMRING_LAYOUT_VERSION_OFFSET) == 0 && (has_magic(probe) || is_blank(probe))) {
    if (now_ms() >= deadline) {
      munmap(probe, SHMRING_PAGE_LENGTH);
      status = SHMRING_ERR_INIT_TIMEOUT;
      goto fail;
    }
    sleep_ms(1);
  }
  status = read_geometry(probe, (uint64_t)info.st_size, &m->g);
  munmap(probe, SHMRING_PAGE_LENGTH);
  if (status != SHMRING_OK) goto fail;
  int protection = producer ? PROT_READ | PROT_WRITE : PROT_READ;
  void *control = mmap(NULL, m->g.control_length, protection, MAP_SHARED, m->fd, 0);
  if (control == MAP_FAILED) {
    status = from_errno(errno);
    goto fail;
  }
  m->control = control;
  void *data = mmap(NULL, m->g.capacity, protection, MAP_SHARED, m->fd, m->g.control_length);
  if (data == MAP_FAILED) {
    status = from_errno(errno);
    goto fail;
  }
  m->data = data;
  if (producer) {
    m->consumer_pages = m->control + SHMRING_CONSUMER_REGION_OFFSET;
  } else {
    void *pages = mmap(NULL, m->g.control_length - SHMRING_CONSUMER_REGION_OFFSET,
                       m->read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, SHMRING_CONSUMER_REGION_OFFSET);
    if (pages == MAP_FAILED) {
      status = from_errno(errno);
      goto fail;
    }
    m->consumer_pages = pages;
    m->own_consumer_pages = 1;
  }
  return SHMRING_OK;
fail:
  unmap(m);
  return status;
}

/* ------------------------------------------------------------------------------------------------ */
/* Slots (src/ring/slots.ts)                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static size_t slot_field(uint32_t index, size_t field) { return shmring_layout_slot_offset((size_t)index) + field; }
#define SLOT_WORD(m, index, field) CONSUMER(m, slot_field(index, field))

/* Where the doorbell FIFO of slot `index` of this ring instance lives (docs/protocol.md, "Doorbells"). */
static void bell_path(const mapping *m, uint32_t index, char *path, size_t size) {
  static const char hex[] = "0123456789abcdef";
  char id[2 * SHMRING_RING_ID_LENGTH + 1];
  for (int i = 0; i < SHMRING_RING_ID_LENGTH; i++) {
    unsigned char byte = m->control[SHMRING_RING_ID_OFFSET + i];
    id[2 * i] = hex[byte >> 4];
    id[2 * i + 1] = hex[byte & 15];
  }
  id[2 * SHMRING_RING_ID_LENGTH] = 0;
  snprintf(path, size, SHM_DIRECTORY "/" BELL_NAME_PREFIX "%s-%u", id, index);
}

static void clear_identity(mapping *m, uint32_t index) {
  putf64(SLOT_WORD(m, index, SHMRING_SLOT_START_TIME_OFFSET), 0, 0);
  putf64(SLOT_WORD(m, index, SHMRING_SLOT_PID_NAMESPACE_OFFSET), 0, 0);
  store32(SLOT_WORD(m, index, SHMRING_SLOT_FLAGS_OFFSET), 0, 0);
  store32(SLOT_WORD(m, index, SHMRING_SLOT_STATE_OFFSET), 0, SHMRING_SLOT_STATE_FREE);
}

/*
 * Frees the slot of a dead owner. The pid word goes from the dead pid to a tombstone -(our pid) by CAS, so
 * a slot freed and claimed again meanwhile is never freed by mistake; then the identity is cleared and
 * the tombstone CASed back to 0. A negative pid is a reclaim in progress by process -pid: when that
 * process is dead too, we finish its reclaim the same way.
 */
static int reclaim_slot(mapping *m, uint32_t index, int32_t owner, int32_t me) {
  unsigned char *pid_word = SLOT_WORD(m, index, SHMRING_SLOT_PID_OFFSET);
  if (owner == 0 || !cas32(pid_word, 0, (uint32_t)owner, (uint32_t)-me)) return 0;
  clear_identity(m, index);
  /* The dead consumer's doorbell FIFO, if it had one (a TypeScript consumer with wake: 'doorbell'). */
  store32(SLOT_WORD(m, index, SHMRING_SLOT_DOORBELL_OFFSET), 0, 0);
  char path[128];
  bell_path(m, index, path, sizeof path);
  unlink(path);
  cas32(pid_word, 0, (uint32_t)-me, 0);
  return 1;
}

static int reclaim_dead_slots(mapping *m, int32_t me) {
  int reclaimed = 0;
  for (uint32_t index = 0; index < m->g.max_consumers; index++) {
    int32_t pid = (int32_t)load32(SLOT_WORD(m, index, SHMRING_SLOT_PID_OFFSET), 0);
    if (pid == 0 || pid == -me) continue;
    identity owner;
    if (pid < 0) {
      owner = (identity){-pid, 0, 0}; /* an unfinished reclaim by process -pid */
    } else {
      owner = (identity){pid, peekf64(SLOT_WORD(m, index, SHMRING_SLOT_START_TIME_OFFSET), 0),
                         peekf64(SLOT_WORD(m, index, SHMRING_SLOT_PID_NAMESPACE_OFFSET), 0)};
    }
    if (liveness(owner) != DEAD) continue;
    reclaimed += reclaim_slot(m, index, pid, me);
  }
  return reclaimed;
}

/* ------------------------------------------------------------------------------------------------ */
/* Space wait (src/ring/space-wait.ts)                                                               */
/* ------------------------------------------------------------------------------------------------ */

static void signal_space(mapping *m) {
  __atomic_add_fetch(WORD(CONSUMER(m, SHMRING_SPACE_WAKE_OFFSET), 0), 1, __ATOMIC_SEQ_CST);
  futex_wake_all(CONSUMER(m, SHMRING_SPACE_WAKE_OFFSET));
}

/* After anything that may free space: wakes a producer that announced a sleep for space. */
static void signal_space_if_waiting(mapping *m) {
  unsigned char *waiting = CONSUMER(m, SHMRING_PRODUCER_WAITING_OFFSET);
  // SYNC POINT: Dekker pair with the producer's sleep (store PRODUCER_WAITING, then rescan the heads).
  if (load32(waiting, 0) != 0 && __atomic_exchange_n(WORD(waiting, 0), 0, __ATOMIC_SEQ_CST) != 0) signal_space(m);
}

/* ------------------------------------------------------------------------------------------------ */
/* Producer (src/ring/writer.ts, create.ts)                                                         */
/* ------------------------------------------------------------------------------------------------ */

struct shmring_producer {
  mapping m;
  char name[256];
  identity me;
  int took_over;
  int closed;
  int corked;
  int trailing_wake;       /* the last publish took a sleeper's announcement: the next one wakes (flush) */
  int release_publish;     /* PRODUCER_PUBLISH_FENCE is MEMBARRIER: publish with a release store (flush) */
  int wipe_on_close;
  uint32_t spin_microseconds; /* shmring_send_wait: spin for space this long before sleeping */
  uint32_t liveness_interval_ms;
  int64_t last_liveness_check;
  uint64_t tail;           /* just past the last committed record */
  uint64_t published_tail; /* PUBLISHED_TAIL: behind tail while corked */
  uint64_t tail_intent;
  uint64_t oldest;
  uint64_t sequence;       /* the next message's sequence number */
  uint64_t limit;          /* writing allowed below: slowest tethered head + capacity */
  uint32_t tail_high_stored, intent_high_stored, oldest_high_stored, sequence_high_stored;
  uint64_t intent_chunk;
  int blocking_slot;
  /* the open reservation */
  int64_t reserved_length; /* -1: none */
  uint64_t reserved_end;
  uint32_t reserved_offset; /* payload offset of the reservation */
  uint32_t reserved_type;
  double messages_sent, bytes_sent, wakes_sent, stalls, bells_rung;
  time_t last_send_second; /* LAST_SEND_AT_MS is written at most once per wall-clock second */
  int *bell_fds;           /* per slot: the doorbell FIFO opened for ringing, or -1 (allocated on first ring) */
};

void shmring_producer_options_init(shmring_producer_options *options) {
  memset(options, 0, sizeof *options);
  options->capacity = DEFAULT_CAPACITY;
  options->max_consumers = SHMRING_DEFAULT_MAX_CONSUMERS;
  options->mode = DEFAULT_MODE;
  options->gid = -1;
  options->existing = SHMRING_EXISTING_TAKEOVER;
  options->liveness_interval_ms = DEFAULT_LIVENESS_INTERVAL_MS;
  options->spin_microseconds = DEFAULT_SPIN_MICROSECONDS;
}

static int resolve_options(const shmring_producer_options *given, shmring_producer_options *o) {
  shmring_producer_options_init(o);
  if (given != NULL) {
    *o = *given;
    if (o->capacity == 0) o->capacity = DEFAULT_CAPACITY;
    if (o->max_consumers == 0) o->max_consumers = SHMRING_DEFAULT_MAX_CONSUMERS;
    if (o->mode == 0) o->mode = DEFAULT_MODE;
    if (o->liveness_interval_ms == 0) o->liveness_interval_ms = DEFAULT_LIVENESS_INTERVAL_MS;
  }
  if (!is_power_of_two(o->capacity) || o->capacity < SHMRING_MIN_CAPACITY || o->capacity > SHMRING_MAX_CAPACITY) {
    return SHMRING_ERR_INVALID_ARGUMENT;
  }
  if (o->max_consumers > SHMRING_MAX_CONSUMERS_LIMIT) return SHMRING_ERR_INVALID_ARGUMENT;
  if (o->max_message_length == 0) o->max_message_length = o->capacity / 4 - SHMRING_RECORD_HEADER_LENGTH;
  if (o->max_message_length > o->capacity / 2 - SHMRING_RECORD_HEADER_LENGTH) return SHMRING_ERR_INVALID_ARGUMENT;
  if (o->mode > 0777 || o->existing < 0 || o->existing > SHMRING_EXISTING_FAIL) return SHMRING_ERR_INVALID_ARGUMENT;
  return SHMRING_OK;
}

/* Takes the producer lock: CAS from `expected` (0, or a dead producer's pid) to us. */
static int lock_producer(mapping *m, identity me, int32_t expected) {
  if (!cas32(m->control, SHMRING_PRODUCER_PID_OFFSET, (uint32_t)expected, (uint32_t)me.pid)) return 0;
  putf64(m->control, SHMRING_PRODUCER_START_TIME_OFFSET, me.start_time);
  putf64(m->control, SHMRING_PRODUCER_PID_NAMESPACE_OFFSET, me.pid_namespace);
  store32(m->control, SHMRING_PRODUCER_STATE_OFFSET, SHMRING_PRODUCER_STATE_LIVE);
  return 1;
}

static int random_bytes(void *out, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = getrandom((unsigned char *)out + done, length - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)n;
  }
  return 0;
}

static void write_header(mapping *m, identity me) {
  static const unsigned char magic[SHMRING_MAGIC_LENGTH] = SHMRING_MAGIC_BYTES;
  unsigned char *c = m->control;
  memcpy(c + SHMRING_MAGIC_OFFSET, magic, SHMRING_MAGIC_LENGTH);
  *WORD(c, SHMRING_CONTROL_LENGTH_OFFSET) = m->g.control_length;
  *WORD(c, SHMRING_CAPACITY_OFFSET) = m->g.capacity;
  *WORD(c, SHMRING_MAX_MESSAGE_LENGTH_OFFSET) = m->g.max_message_length;
  *WORD(c, SHMRING_MAX_CONSUMERS_OFFSET) = m->g.max_consumers;
  *WORD(c, SHMRING_FLAGS_OFFSET) = 0;
  *WORD(c, SHMRING_CREATOR_PID_OFFSET) = (uint32_t)me.pid;
  putf64(c, SHMRING_CREATOR_START_TIME_OFFSET, me.start_time);
  putf64(c, SHMRING_CREATED_AT_MS_OFFSET, wall_ms());
  putf64(c, SHMRING_CREATOR_PID_NAMESPACE_OFFSET, me.pid_namespace);
  unsigned char id[SHMRING_RING_ID_LENGTH];
  if (random_bytes(id, sizeof id) != 0) {
    /* getrandom cannot fail on Linux >= 3.17 with a buffer this small; still, an id must differ. */
    uint64_t mix = (uint64_t)now_ms() ^ ((uint64_t)me.pid << 32) ^ (uint64_t)(uintptr_t)m;
    memcpy(id, &mix, 8);
    memcpy(id + 8, &mix, 8);
  }
  memcpy(c + SHMRING_RING_ID_OFFSET, id, sizeof id);
  // SYNC POINT: publish the header. Pairs with the load of LAYOUT_VERSION in open_ring (and header.ts).
  store32(c, SHMRING_LAYOUT_VERSION_OFFSET, SHMRING_LAYOUT_VERSION);
}

/* Unlinks temporary segments of creators that died before linking them. */
static void remove_abandoned_temporaries(void) {
  DIR *directory = opendir(SHM_DIRECTORY);
  if (directory == NULL) return;
  const char *prefix = CREATING_PREFIX + 1;
  size_t prefix_length = strlen(prefix);
  struct dirent *entry;
  while ((entry = readdir(directory)) != NULL) {
    if (strncmp(entry->d_name, prefix, prefix_length) != 0) continue;
    long pid = strtol(entry->d_name + prefix_length, NULL, 10);
    if (pid <= 0 || pid > 0x7fffffff || liveness((identity){(int32_t)pid, 0, 0}) != DEAD) continue;
    char path[300];
    snprintf(path, sizeof path, SHM_DIRECTORY "/%s", entry->d_name);
    unlink(path);
  }
  closedir(directory);
}

/*
 * Chooses how flush orders its tail store before its load of DATA_WAITERS and tells consumers (a
 * sequentially consistent store, before our first publish; docs/protocol.md, "The publish fence").
 */
static void set_publish_fence(shmring_producer *p, const shmring_producer_options *o) {
  p->release_publish = !o->sequential_publish && register_for_membarrier();
  store32(p->m.control, SHMRING_PRODUCER_PUBLISH_FENCE_OFFSET,
          p->release_publish ? SHMRING_PUBLISH_FENCE_MEMBARRIER : SHMRING_PUBLISH_FENCE_FULL);
}

/*
 * Creates the ring complete under a temporary name and links it to `name` (link(2) never replaces a
 * name). Returns OK, SEGMENT_EXISTS when `name` exists, or an error.
 */
static int create_fresh(shmring_producer *p, const shmring_producer_options *o) {
  char path[300], temporary_path[340], temporary[80];
  shm_path(p->name, path, sizeof path);
  if (access(path, F_OK) == 0) return SHMRING_ERR_SEGMENT_EXISTS;
  remove_abandoned_temporaries();
  unsigned char random[6] = {0};
  random_bytes(random, sizeof random);
  snprintf(temporary, sizeof temporary, CREATING_PREFIX "%d-%02x%02x%02x%02x%02x%02x", (int)p->me.pid, random[0],
           random[1], random[2], random[3], random[4], random[5]);
  snprintf(temporary_path, sizeof temporary_path, SHM_DIRECTORY "%s", temporary);
  mapping *m = &p->m;
  memset(m, 0, sizeof *m);
  m->g.capacity = o->capacity;
  m->g.max_consumers = o->max_consumers;
  m->g.max_message_length = o->max_message_length;
  m->g.control_length = shmring_layout_control_length(o->max_consumers);
  uint64_t size = (uint64_t)m->g.control_length + m->g.capacity;
  int status = SHMRING_OK;
  m->fd = open(temporary_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, o->mode);
  if (m->fd < 0) return from_errno(errno);
  int linked = 0;
  /* fchmod: the umask must not change the mode asked for. */
  if (fchmod(m->fd, o->mode) != 0 || (o->gid >= 0 && fchown(m->fd, (uid_t)-1, (gid_t)o->gid) != 0) ||
      ftruncate(m->fd, (off_t)size) != 0) {
    status = from_errno(errno);
    goto done;
  }
  int error = posix_fallocate(m->fd, 0, (off_t)size); /* a full /dev/shm fails here, not with SIGBUS later */
  if (error != 0 && error != EOPNOTSUPP && error != EINVAL) {
    errno = error;
    status = from_errno(error);
    goto done;
  }
  struct stat info;
  fstat(m->fd, &info);
  m->dev = info.st_dev;
  m->ino = info.st_ino;
  void *control = mmap(NULL, m->g.control_length, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
  if (control == MAP_FAILED) {
    status = from_errno(errno);
    goto done;
  }
  m->control = control;
  m->consumer_pages = m->control + SHMRING_CONSUMER_REGION_OFFSET;
  void *data = mmap(NULL, m->g.capacity, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, m->g.control_length);
  if (data == MAP_FAILED) {
    status = from_errno(errno);
    goto done;
  }
  m->data = data;
  /* The lock before the header: a producer racing us that opens the ring once linked finds it held. */
  lock_producer(m, p->me, 0);
  set_publish_fence(p, o);
  write_header(m, p->me);
  if (link(temporary_path, path) != 0) {
    status = errno == EEXIST ? SHMRING_ERR_SEGMENT_EXISTS : from_errno(errno);
    goto done;
  }
  linked = 1;
done:
  unlink(temporary_path);
  if (!linked) unmap(m);
  return status;
}

/*
 * Walks the records from `oldest` to `tail`: the sequence the next message must carry (*next, *found set
 * when a message, END or ABORT is retained). Returns 0 when the records do not add up (create.ts
 * lastPublishedSequence).
 */
static int last_published_sequence(mapping *m, uint64_t oldest, uint64_t tail, uint64_t *next, int *found) {
  uint64_t mask = m->g.capacity - 1, position = oldest;
  uint64_t max_steps = m->g.capacity / SHMRING_RECORD_ALIGNMENT + 1;
  *found = 0;
  for (uint64_t steps = 0; position < tail; steps++) {
    uint32_t offset = (uint32_t)(position & mask);
    uint32_t payload_length = peek32(m->data, offset + SHMRING_RECORD_LENGTH_OFFSET);
    uint32_t type = peek32(m->data, offset + SHMRING_RECORD_TYPE_OFFSET);
    uint64_t sequence = ((uint64_t)peek32(m->data, offset + SHMRING_RECORD_SEQUENCE_HIGH_OFFSET) << 32) |
                        peek32(m->data, offset + SHMRING_RECORD_SEQUENCE_OFFSET);
    uint64_t length = type == SHMRING_RECORD_PADDING ? m->g.capacity - offset : record_length(payload_length);
    if (steps >= max_steps || type < SHMRING_RECORD_MESSAGE || type > SHMRING_RECORD_ABORT ||
        payload_length > m->g.max_message_length || offset + length > m->g.capacity || length > tail - position) {
      return 0;
    }
    if (type == SHMRING_RECORD_MESSAGE || type == SHMRING_RECORD_BYTES) {
      *next = sequence + 1;
      *found = 1;
    } else if (type == SHMRING_RECORD_END || type == SHMRING_RECORD_ABORT) {
      *next = sequence;
      *found = 1;
    }
    position += length;
  }
  return position == tail;
}

/* The dead producer's published words, validated (create.ts readWriterStart). 0: inconsistent. */
static int read_writer_start(shmring_producer *p) {
  mapping *m = &p->m;
  uint64_t tail = load_pair(m->control, SHMRING_PUBLISHED_TAIL_OFFSET);
  uint64_t intent = load_pair(m->control, SHMRING_TAIL_INTENT_OFFSET);
  uint64_t oldest = load_pair(m->control, SHMRING_OLDEST_POSITION_OFFSET);
  uint64_t stored_sequence = load_pair(m->control, SHMRING_NEXT_SEQUENCE_OFFSET);
  if ((tail | oldest) & (SHMRING_RECORD_ALIGNMENT - 1)) return 0;
  if (intent < tail || intent - tail > m->g.capacity || oldest > tail || tail - oldest > m->g.capacity) return 0;
  uint64_t walked = 0;
  int found = 0;
  if (!last_published_sequence(m, oldest, tail, &walked, &found)) return 0;
  uint64_t sequence = found ? walked : stored_sequence;
  if (stored_sequence == sequence + 1) {
    /* Killed between storing its counters and publishing: uncount the record that never appeared. */
    double sent = peekf64(m->control, SHMRING_MESSAGES_SENT_OFFSET);
    putf64(m->control, SHMRING_MESSAGES_SENT_OFFSET, sent >= 1 ? sent - 1 : 0);
    uint32_t abandoned = peek32(m->data, (uint32_t)(tail & (m->g.capacity - 1)) + SHMRING_RECORD_LENGTH_OFFSET);
    double bytes = peekf64(m->control, SHMRING_BYTES_SENT_OFFSET);
    if (abandoned <= m->g.max_message_length) {
      putf64(m->control, SHMRING_BYTES_SENT_OFFSET, bytes >= abandoned ? bytes - abandoned : 0);
    }
  }
  p->tail = tail;
  p->tail_intent = intent;
  p->oldest = oldest;
  p->sequence = sequence;
  return 1;
}

/* The producer identity in a segment's lock words, read with plain file I/O (no mapping). */
static int producer_in_file(const char *path, identity *holder) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  unsigned char block[SHMRING_PRODUCER_PID_NAMESPACE_OFFSET + 8];
  ssize_t n = pread(fd, block, sizeof block, 0);
  close(fd);
  if (n < (ssize_t)sizeof block) return 0;
  int32_t pid;
  memcpy(&pid, block + SHMRING_PRODUCER_PID_OFFSET, 4);
  if (pid <= 0) return 0;
  *holder = (identity){pid, peekf64(block, SHMRING_PRODUCER_START_TIME_OFFSET), peekf64(block, SHMRING_PRODUCER_PID_NAMESPACE_OFFSET)};
  return 1;
}

/* Unlinks a ring that cannot be continued, unless a live producer holds it. */
static int replace_unusable(shmring_producer *p, int existing) {
  if (existing == SHMRING_EXISTING_FAIL) return SHMRING_ERR_SEGMENT_EXISTS;
  char path[300];
  shm_path(p->name, path, sizeof path);
  identity holder;
  if (producer_in_file(path, &holder) && liveness(holder) != DEAD) return SHMRING_ERR_PRODUCER_ALIVE;
  if (unlink(path) != 0 && errno != ENOENT) return from_errno(errno);
  return SHMRING_OK;
}

/* The name exists: take the ring over (OK), or replace it (SEGMENT_NOT_FOUND: create again), or an error. */
static int use_existing(shmring_producer *p, const shmring_producer_options *o) {
  mapping *m = &p->m;
  int status = open_ring(p->name, 1, 0, 0, m);
  if (status == SHMRING_ERR_SEGMENT_NOT_FOUND) return status;
  if (status == SHMRING_ERR_INCOMPATIBLE_VERSION || status == SHMRING_ERR_CORRUPT_SEGMENT ||
      status == SHMRING_ERR_INIT_TIMEOUT || status == SHMRING_ERR_SEGMENT_TOO_SMALL) {
    status = replace_unusable(p, o->existing);
    return status == SHMRING_OK ? SHMRING_ERR_SEGMENT_NOT_FOUND : status;
  }
  if (status != SHMRING_OK) return status;
  identity holder = {(int32_t)load32(m->control, SHMRING_PRODUCER_PID_OFFSET),
                     peekf64(m->control, SHMRING_PRODUCER_START_TIME_OFFSET),
                     peekf64(m->control, SHMRING_PRODUCER_PID_NAMESPACE_OFFSET)};
  if (holder.pid != 0 && liveness(holder) != DEAD) {
    unmap(m);
    return SHMRING_ERR_PRODUCER_ALIVE;
  }
  if (o->existing == SHMRING_EXISTING_FAIL) {
    unmap(m);
    return SHMRING_ERR_SEGMENT_EXISTS;
  }
  int same_shape = m->g.capacity == o->capacity && m->g.max_consumers == o->max_consumers &&
                   m->g.max_message_length == o->max_message_length;
  if (!same_shape || o->existing != SHMRING_EXISTING_TAKEOVER || !read_writer_start(p)) {
    unmap(m);
    status = replace_unusable(p, o->existing);
    return status == SHMRING_OK ? SHMRING_ERR_SEGMENT_NOT_FOUND : status;
  }
  if (!lock_producer(m, p->me, holder.pid)) {
    unmap(m);
    return SHMRING_ERR_PRODUCER_ALIVE;
  }
  __atomic_add_fetch(WORD(m->control, SHMRING_PRODUCER_EPOCH_OFFSET), 1, __ATOMIC_SEQ_CST);
  set_publish_fence(p, o);
  putf64(m->control, SHMRING_TAKEOVERS_OFFSET, peekf64(m->control, SHMRING_TAKEOVERS_OFFSET) + 1);
  store32(CONSUMER(m, SHMRING_PRODUCER_WAITING_OFFSET), 0, 0);
  p->took_over = 1;
  /* The producer before may have spent a sleeper's announcement and died before the publish whose
   * trailing wake was owed (flush): the first publish here wakes too. */
  p->trailing_wake = 1;
  return SHMRING_OK;
}

/* Resets every published word to the writer's start (writer.ts publishStart). */
static void publish_start(shmring_producer *p) {
  unsigned char *c = p->m.control;
  p->oldest_high_stored = p->intent_high_stored = p->sequence_high_stored = p->tail_high_stored = UINT32_MAX;
  store_pair(c, SHMRING_OLDEST_POSITION_OFFSET, p->oldest, &p->oldest_high_stored);
  store_pair(c, SHMRING_TAIL_INTENT_OFFSET, p->tail_intent, &p->intent_high_stored);
  store_pair(c, SHMRING_NEXT_SEQUENCE_OFFSET, p->sequence, &p->sequence_high_stored);
  store_pair(c, SHMRING_PUBLISHED_TAIL_OFFSET, p->tail, &p->tail_high_stored);
  p->published_tail = p->tail;
  p->limit = p->tail;
  p->messages_sent = peekf64(c, SHMRING_MESSAGES_SENT_OFFSET);
  p->bytes_sent = peekf64(c, SHMRING_BYTES_SENT_OFFSET);
  p->wakes_sent = peekf64(c, SHMRING_WAKES_SENT_OFFSET);
  p->stalls = peekf64(c, SHMRING_PRODUCER_STALLS_OFFSET);
  p->bells_rung = peekf64(c, SHMRING_BELLS_RUNG_OFFSET);
}

int shmring_producer_create(const char *name, const shmring_producer_options *options, shmring_producer **out) {
  if (out == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  *out = NULL;
  char path[300];
  int status = shm_path(name, path, sizeof path);
  if (status != SHMRING_OK) return status;
  shmring_producer_options o;
  status = resolve_options(options, &o);
  if (status != SHMRING_OK) return status;
  shmring_producer *p = calloc(1, sizeof *p);
  if (p == NULL) return SHMRING_ERR_OUT_OF_MEMORY;
  p->m.fd = -1;
  snprintf(p->name, sizeof p->name, "%s", name);
  p->me = current_process();
  p->liveness_interval_ms = o.liveness_interval_ms;
  p->wipe_on_close = o.wipe_on_close;
  p->spin_microseconds = o.spin_microseconds;
  p->reserved_length = -1;
  p->blocking_slot = -1;
  status = SHMRING_ERR_SEGMENT_EXISTS;
  for (int attempt = 0; attempt < 3; attempt++) {
    status = create_fresh(p, &o);
    if (status != SHMRING_ERR_SEGMENT_EXISTS) break;
    status = use_existing(p, &o);
    if (status != SHMRING_ERR_SEGMENT_NOT_FOUND) break; /* NOT_FOUND: replaced or vanished, create again */
    status = SHMRING_ERR_SEGMENT_EXISTS;
  }
  if (status != SHMRING_OK) {
    free(p);
    return status;
  }
  p->intent_chunk = p->m.g.capacity / 8 > SHMRING_RECORD_ALIGNMENT ? p->m.g.capacity / 8 : SHMRING_RECORD_ALIGNMENT;
  /* Before our first publish: readers, tethered too, copy and check every record of a ring that will be
   * wiped, so none delivers a record zeroed under it (layout.ts FLAG_WIPE_ON_CLOSE). */
  if (o.wipe_on_close) __atomic_or_fetch(WORD(p->m.control, SHMRING_FLAGS_OFFSET), SHMRING_FLAG_WIPE_ON_CLOSE, __ATOMIC_SEQ_CST);
  /* Taking over without wiping: the dead producer can wipe nothing now; readers go back to reading in place. */
  else if (p->took_over) __atomic_and_fetch(WORD(p->m.control, SHMRING_FLAGS_OFFSET), ~(uint32_t)SHMRING_FLAG_WIPE_ON_CLOSE, __ATOMIC_SEQ_CST);
  publish_start(p);
  *out = p;
  return SHMRING_OK;
}

int shmring_producer_took_over(const shmring_producer *producer) { return producer != NULL && producer->took_over; }
uint64_t shmring_producer_next_sequence(const shmring_producer *producer) { return producer ? producer->sequence : 0; }
uint32_t shmring_producer_max_message_length(const shmring_producer *producer) {
  return producer ? producer->m.g.max_message_length : 0;
}

/*
 * Recomputes the write limit from the active tethered consumers' heads (writer.ts refreshLimit). An
 * impossible head (ahead of our tail, more than a ring behind) comes from a damaged slot: it is clamped.
 */
static uint64_t refresh_limit(shmring_producer *p) {
  mapping *m = &p->m;
  int64_t max_behind = -1;
  int blocking = -1;
  uint32_t tail_low = (uint32_t)p->tail;
  for (uint32_t index = 0; index < m->g.max_consumers; index++) {
    if (load32(SLOT_WORD(m, index, SHMRING_SLOT_STATE_OFFSET), 0) != SHMRING_SLOT_STATE_ACTIVE) continue;
    if ((peek32(SLOT_WORD(m, index, SHMRING_SLOT_FLAGS_OFFSET), 0) & SHMRING_SLOT_FLAG_TETHERED) == 0) continue;
    /* A slot marked active by a claimer that lost it to a reclaim in the same instant has no owner. */
    if ((int32_t)load32(SLOT_WORD(m, index, SHMRING_SLOT_PID_OFFSET), 0) <= 0) continue;
    int64_t behind = (int32_t)(tail_low - load32(SLOT_WORD(m, index, SHMRING_SLOT_HEAD_OFFSET), 0));
    if (behind < 0) behind = 0;
    if (behind > m->g.capacity) behind = m->g.capacity;
    if (behind > max_behind) {
      max_behind = behind;
      blocking = (int)index;
    }
  }
  p->blocking_slot = blocking;
  p->limit = p->tail + (blocking == -1 ? m->g.capacity : m->g.capacity - (uint64_t)max_behind);
  return p->limit;
}

/* Walks our own records forward from oldest until at or past `target`, never past the tail. */
static void advance_oldest(shmring_producer *p, uint64_t target) {
  uint64_t oldest = p->oldest, mask = p->m.g.capacity - 1;
  while (oldest < target && oldest < p->tail) {
    uint32_t offset = (uint32_t)(oldest & mask);
    uint32_t type = peek32(p->m.data, offset + SHMRING_RECORD_TYPE_OFFSET);
    uint32_t payload_length = peek32(p->m.data, offset + SHMRING_RECORD_LENGTH_OFFSET);
    uint64_t length = type == SHMRING_RECORD_PADDING ? p->m.g.capacity - offset : record_length(payload_length);
    /* A record we never finished, or a damaged one, must not send the walk out of the ring. */
    if (length == 0 || offset + length > p->m.g.capacity || payload_length > p->m.g.max_message_length) {
      length = p->m.g.capacity - offset;
    }
    oldest += length;
  }
  if (oldest > p->tail) oldest = p->tail;
  p->oldest = oldest;
}

/* Raises TAIL_INTENT past `end` before anything at or beyond the old intent is written (writer.ts). */
static int raise_intent(shmring_producer *p, uint64_t end) {
  if (end > refresh_limit(p)) return 0;
  uint64_t intent = end + p->intent_chunk;
  if (intent > p->limit) intent = p->limit;
  uint64_t reach = p->published_tail + p->m.g.capacity; /* readers judge laps against the published tail */
  if (intent > reach) intent = reach;
  if (intent < end) intent = end;
  if (intent > p->m.g.capacity) advance_oldest(p, intent - p->m.g.capacity);
  store_pair(p->m.control, SHMRING_OLDEST_POSITION_OFFSET, p->oldest, &p->oldest_high_stored);
  // SYNC POINT: pairs with the untethered reader's load of TAIL_INTENT after its copy: once visible,
  // bytes below intent - capacity may be overwritten. The seq_cst loads of the slot words in
  // refresh_limit below keep the record's stores from moving before it.
  store_pair(p->m.control, SHMRING_TAIL_INTENT_OFFSET, intent, &p->intent_high_stored);
  p->tail_intent = intent;
  // SYNC POINT: Dekker pair with a joining consumer (settle_join: store head, then load TAIL_INTENT).
  return end <= refresh_limit(p);
}

static void write_record_header(shmring_producer *p, uint32_t offset, uint32_t payload_length, uint32_t type) {
  unsigned char *d = p->m.data;
  *WORD(d, offset + SHMRING_RECORD_LENGTH_OFFSET) = payload_length;
  *WORD(d, offset + SHMRING_RECORD_TYPE_OFFSET) = type;
  *WORD(d, offset + SHMRING_RECORD_SEQUENCE_OFFSET) = (uint32_t)p->sequence;
  *WORD(d, offset + SHMRING_RECORD_SEQUENCE_HIGH_OFFSET) = (uint32_t)(p->sequence >> 32);
}

/*
 * Opens the doorbell FIFO of `slot` for ringing: -1 when there is none, or nobody reads it (ENXIO), or the
 * path is not a FIFO (never write into whatever else a path may name).
 */
static int open_bell(shmring_producer *p, uint32_t slot) {
  char path[128];
  bell_path(&p->m, slot, path, sizeof path);
  int fd;
  do {
    fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISFIFO(info.st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

/*
 * Writes the one-byte ring: 1 written, 0 already rung (the FIFO is full: EAGAIN), -1 the reader is gone
 * (EPIPE) or the fd is useless. A write to a FIFO nobody reads raises SIGPIPE, which would kill a C
 * program with the default disposition: it is blocked for this thread around the write, and a SIGPIPE
 * the write raised is consumed before the mask is restored (one that was pending before is left alone).
 */
static int write_bell(int fd) {
  sigset_t pipe_only, previous, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  sigpending(&pending);
  int was_pending = sigismember(&pending, SIGPIPE);
  const char byte = 1;
  ssize_t written;
  do {
    written = write(fd, &byte, 1);
  } while (written < 0 && errno == EINTR);
  int error = errno;
  if (written < 0 && error == EPIPE && !was_pending) {
    static const struct timespec no_wait = {0, 0};
    while (sigtimedwait(&pipe_only, NULL, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (written == 1) return 1;
  return written < 0 && (error == EAGAIN || error == EWOULDBLOCK) ? 0 : -1;
}

/* Rings the doorbell of `slot` (opened once and cached; a reader gone means reopen once). 1: written. */
static int ring_bell(shmring_producer *p, uint32_t slot) {
  if (p->bell_fds == NULL) {
    p->bell_fds = malloc(sizeof *p->bell_fds * p->m.g.max_consumers);
    if (p->bell_fds == NULL) return 0;
    for (uint32_t i = 0; i < p->m.g.max_consumers; i++) p->bell_fds[i] = -1;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    if (p->bell_fds[slot] < 0) {
      p->bell_fds[slot] = open_bell(p, slot);
      if (p->bell_fds[slot] < 0) return 0; /* no reader: the consumer is gone (ENXIO, ENOENT) */
    }
    int outcome = write_bell(p->bell_fds[slot]);
    if (outcome >= 0) return outcome;
    close(p->bell_fds[slot]); /* EPIPE: the slot changed hands since we opened its bell */
    p->bell_fds[slot] = -1;
  }
  return 0;
}

static void close_bells(shmring_producer *p) {
  if (p->bell_fds == NULL) return;
  for (uint32_t i = 0; i < p->m.g.max_consumers; i++) {
    if (p->bell_fds[i] >= 0) close(p->bell_fds[i]);
  }
  free(p->bell_fds);
  p->bell_fds = NULL;
}

/*
 * Rings the doorbell of every consumer that sleeps on one (an event-loop consumer of the TypeScript side
 * with wake: 'doorbell'), clearing its SLEEPING bit: only after DATA_WAITERS was found set (or on close),
 * so never while nobody sleeps (src/ring/bells.ts ringSleepers).
 */
static void ring_sleepers(shmring_producer *p) {
  mapping *m = &p->m;
  int rung = 0;
  for (uint32_t slot = 0; slot < m->g.max_consumers; slot++) {
    uint32_t *word = WORD(SLOT_WORD(m, slot, SHMRING_SLOT_DOORBELL_OFFSET), 0);
    if ((__atomic_load_n(word, __ATOMIC_SEQ_CST) & SHMRING_SLOT_BELL_SLEEPING) == 0) continue;
    // SYNC POINT: pairs with the consumer's atomic or of SLEEPING before its store of DATA_WAITERS: we
    // saw DATA_WAITERS = 1 (the exchange in flush), so we see SLEEPING; whoever clears it rings (once).
    if ((__atomic_fetch_and(word, ~(uint32_t)SHMRING_SLOT_BELL_SLEEPING, __ATOMIC_SEQ_CST) & SHMRING_SLOT_BELL_SLEEPING) == 0) {
      continue;
    }
    rung += ring_bell(p, slot);
  }
  if (rung > 0) {
    p->bells_rung += rung;
    putf64(m->control, SHMRING_BELLS_RUNG_OFFSET, p->bells_rung);
  }
}

/* Wakes every consumer sleeping on PUBLISHED_TAIL, and rings the doorbells of those sleeping on one. */
static void wake_consumers(shmring_producer *p) {
  futex_wake_all(p->m.control + SHMRING_PUBLISHED_TAIL_OFFSET);
  ring_sleepers(p);
  p->wakes_sent += 1;
  putf64(p->m.control, SHMRING_WAKES_SENT_OFFSET, p->wakes_sent);
}

static int flush(shmring_producer *p) {
  if (p->published_tail == p->tail) return 0;
  p->published_tail = p->tail;
  /* The counters go out with the publish, once per batch, before NEXT_SEQUENCE and the tail (writer.ts
   * flush): a producer killed in between leaves them ahead by exactly the unpublished messages, as
   * NEXT_SEQUENCE, which a takeover corrects. */
  putf64(p->m.control, SHMRING_MESSAGES_SENT_OFFSET, p->messages_sent);
  putf64(p->m.control, SHMRING_BYTES_SENT_OFFSET, p->bytes_sent);
  /* Release is enough here: the sequentially consistent store of the tail below is what readers pair
   * with, and it keeps this store before it (the TypeScript writer uses a plain store). */
  store_pair_ordered(p->m.control, SHMRING_NEXT_SEQUENCE_OFFSET, p->sequence, &p->sequence_high_stored, __ATOMIC_RELEASE);
  // SYNC POINT: publish. Pairs with the consumers' load of PUBLISHED_TAIL: the records written above
  // are visible before the new tail is.
  if (p->release_publish) {
    store_pair_ordered(p->m.control, SHMRING_PUBLISHED_TAIL_OFFSET, p->tail, &p->tail_high_stored, __ATOMIC_RELEASE);
    /* SYNC POINT: the asymmetric fence. Only the compiler is kept from moving the load below above the
     * store; a consumer about to sleep calls membarrier, which makes this a full barrier whenever it
     * matters (docs/protocol.md, "The publish fence"). A sequentially consistent store here (an xchg on
     * x86, waiting for the tail's cache line to come back from the polling consumers) cost more than half
     * of a 64 B send. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  } else {
    store_pair(p->m.control, SHMRING_PUBLISHED_TAIL_OFFSET, p->tail, &p->tail_high_stored);
  }
  // SYNC POINT: Dekker pair with a consumer's sleep (store DATA_WAITERS, then load PUBLISHED_TAIL).
  uint32_t *waiters = WORD(CONSUMER(&p->m, SHMRING_DATA_WAITERS_OFFSET), 0);
  int announced = __atomic_load_n(waiters, __ATOMIC_SEQ_CST) != 0 && __atomic_exchange_n(waiters, 0, __ATOMIC_SEQ_CST) != 0;
  if (!announced && !p->trailing_wake) return 0;
  /* The exchange may take an announcement made after its sleeper had already seen the tail stored above:
   * a consumer that read up to this tail, announced, and is about to sleep on this very value. Our wake
   * can reach the kernel before the sleeper does and be lost, with the flag spent. So the next publish
   * (which changes the word it sleeps on) wakes once more, announced or not: at most two wakes per sleep,
   * never a sleep through published data (writer.ts flush; docs/protocol.md, "Sleeping and waking"). */
  p->trailing_wake = announced;
  wake_consumers(p);
  return 1;
}

/* Where a record of `payload_length` bytes written now would end (padding before the wrap included). */
static uint64_t record_end(const shmring_producer *p, uint32_t payload_length) {
  uint64_t length = record_length(payload_length);
  uint64_t to_end = p->m.g.capacity - (p->tail & (p->m.g.capacity - 1));
  return p->tail + (to_end < length ? to_end : 0) + length;
}

/* Reserves a record; its payload offset in *payload_offset. OK or FULL (writer.ts tryReserve). */
static int try_reserve(shmring_producer *p, uint32_t type, uint32_t payload_length, uint32_t *payload_offset) {
  uint64_t length = record_length(payload_length);
  uint64_t start = p->tail;
  uint32_t offset = (uint32_t)(start & (p->m.g.capacity - 1));
  uint64_t to_end = p->m.g.capacity - offset;
  uint64_t padding = to_end < length ? to_end : 0;
  uint64_t end = start + padding + length;
  if (end > p->limit && end > refresh_limit(p)) return SHMRING_FULL;
  /* Corked records not yet published must never be overwritten by this one. */
  if (end - p->published_tail > p->m.g.capacity) flush(p);
  if (end > p->tail_intent && !raise_intent(p, end)) return SHMRING_FULL;
  uint32_t record_offset = offset;
  if (padding != 0) {
    write_record_header(p, offset, (uint32_t)(padding - SHMRING_RECORD_HEADER_LENGTH), SHMRING_RECORD_PADDING);
    record_offset = 0;
  }
  write_record_header(p, record_offset, payload_length, type);
  p->reserved_end = end;
  p->reserved_length = payload_length;
  p->reserved_type = type;
  p->reserved_offset = record_offset + SHMRING_RECORD_HEADER_LENGTH;
  *payload_offset = p->reserved_offset;
  return SHMRING_OK;
}

/* LAST_SEND_AT_MS, at most once a second (a coarse clock read costs a few ns; the store is rarer). */
static int note_send_time(shmring_producer *p) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  if (now.tv_sec == p->last_send_second) return 0;
  p->last_send_second = now.tv_sec;
  putf64(p->m.control, SHMRING_LAST_SEND_AT_MS_OFFSET, (double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000));
  return 1;
}

static int reclaim(shmring_producer *p, int force);

static void commit(shmring_producer *p, int counts_as_message) {
  p->tail = p->reserved_end;
  if (counts_as_message) {
    /* The send path's liveness timer (the library starts no thread): once a second, free the slots of
     * dead consumers (at most once per liveness_interval_ms), untethered ones too, which never hold the
     * ring full, so a joiner does not find every slot taken by the dead (the Node producer's timer). */
    if (note_send_time(p)) reclaim(p, 0);
    p->sequence += 1;
    p->messages_sent += 1;
    p->bytes_sent += (double)p->reserved_length;
  }
  p->reserved_length = -1;
  if (p->corked && p->tail - p->published_tail < p->m.g.capacity / 4) return;
  flush(p);
}

static void note_stall(shmring_producer *p) {
  p->stalls += 1;
  putf64(p->m.control, SHMRING_PRODUCER_STALLS_OFFSET, p->stalls);
}

/* Frees dead consumers' slots at most once per liveness interval (unless `force`). */
static int reclaim(shmring_producer *p, int force) {
  int64_t now = now_ms();
  if (!force && now - p->last_liveness_check < (int64_t)p->liveness_interval_ms) return 0;
  p->last_liveness_check = now;
  int reclaimed = reclaim_dead_slots(&p->m, p->me.pid);
  if (reclaimed > 0) {
    putf64(p->m.control, SHMRING_CONSUMERS_RECLAIMED_OFFSET,
           peekf64(p->m.control, SHMRING_CONSUMERS_RECLAIMED_OFFSET) + reclaimed);
    refresh_limit(p);
    signal_space(&p->m);
  }
  return reclaimed;
}

static int check_send(shmring_producer *p, uint32_t type, size_t length) {
  if (p == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  if (p->closed) return SHMRING_ERR_CLOSED;
  if (type != SHMRING_RECORD_BYTES && type != SHMRING_RECORD_MESSAGE) return SHMRING_ERR_INVALID_ARGUMENT;
  if (p->reserved_length >= 0) return SHMRING_ERR_INVALID_ARGUMENT;
  if (length > p->m.g.max_message_length) return SHMRING_ERR_MESSAGE_TOO_LARGE;
  return SHMRING_OK;
}

int shmring_send(shmring_producer *p, uint32_t type, const void *bytes, size_t length) {
  int status = check_send(p, type, length);
  if (status != SHMRING_OK) return status;
  if (length > 0 && bytes == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  uint32_t offset;
  status = try_reserve(p, type, (uint32_t)length, &offset);
  if (status == SHMRING_FULL) {
    /* A dead tethered consumer may be what holds us: check (at most once per liveness interval). */
    if (reclaim(p, 0) > 0) status = try_reserve(p, type, (uint32_t)length, &offset);
    if (status == SHMRING_FULL) {
      note_stall(p);
      flush(p);
      return SHMRING_FULL;
    }
  }
  if (length > 0) memcpy(p->m.data + offset, bytes, length);
  commit(p, 1);
  return SHMRING_OK;
}

struct space_wanted {
  shmring_producer *p;
  uint32_t length;
};
/* spin_for's test in shmring_send_wait: 1 when a record of `length` bytes fits now. */
static int space_for(void *ctx) {
  struct space_wanted *wanted = ctx;
  return record_end(wanted->p, wanted->length) <= refresh_limit(wanted->p);
}

int shmring_send_wait(shmring_producer *p, uint32_t type, const void *bytes, size_t length, int timeout_ms) {
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
  unsigned char *space_wake = CONSUMER(&p->m, SHMRING_SPACE_WAKE_OFFSET);
  unsigned char *waiting = CONSUMER(&p->m, SHMRING_PRODUCER_WAITING_OFFSET);
  int spun = p->spin_microseconds == 0;
  for (;;) {
    int status = shmring_send(p, type, bytes, length);
    if (status != SHMRING_FULL) return status;
    int64_t now = now_ms();
    if (now >= deadline) return SHMRING_ERR_TIMEOUT;
    if (!spun) {
      /* Spin briefly for space (consumers free it a quarter ring at a time) before paying for a sleep
       * and the consumer for a wake: once per call, then send again. */
      spun = 1;
      struct space_wanted wanted = {p, (uint32_t)length};
      uint32_t spin = p->spin_microseconds;
      int64_t left_ms = deadline - now; /* never spin past the caller's deadline (INT64_MAX: none) */
      if (left_ms < (int64_t)spin / 1000 + 1) spin = (uint32_t)(left_ms * 1000);
      spin_for(space_for, &wanted, spin);
      continue;
    }
    /* Event count: the ticket is read BEFORE the announcement, so any bump after it ends the sleep. */
    uint32_t ticket = load32(space_wake, 0);
    // SYNC POINT: Dekker pair with signal_space_if_waiting (store head, then load PRODUCER_WAITING).
    store32(waiting, 0, 1);
    refresh_limit(p);
    /* Re-check after announcing: a consumer that released before seeing PRODUCER_WAITING did not wake us. */
    if (record_end(p, (uint32_t)length) > p->limit && p->blocking_slot != -1) {
      int64_t sleep = deadline - now;
      if (sleep > p->liveness_interval_ms) sleep = p->liveness_interval_ms;
      futex_wait_ms(space_wake, ticket, (int)sleep);
    }
    store32(waiting, 0, 0);
    reclaim(p, 0);
  }
}

int shmring_send_batch(shmring_producer *p, uint32_t type, const void *const *payloads, const size_t *lengths,
                       size_t count) {
  if (count == 0) return p == NULL ? SHMRING_ERR_INVALID_ARGUMENT : 0;
  if (payloads == NULL || lengths == NULL || count > 0x7fffffff) return SHMRING_ERR_INVALID_ARGUMENT;
  int status = check_send(p, type, 0);
  if (status != SHMRING_OK) return status;
  /* Everything is checked before anything is written: an error leaves nothing half sent. */
  for (size_t i = 0; i < count; i++) {
    if (lengths[i] > p->m.g.max_message_length) return SHMRING_ERR_MESSAGE_TOO_LARGE;
    if (lengths[i] > 0 && payloads[i] == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  }
  /* Corked for the batch: commits publish only every quarter ring (commit), and once at the end. */
  int was_corked = p->corked;
  p->corked = 1;
  size_t sent = 0;
  for (; sent < count; sent++) {
    uint32_t offset;
    status = try_reserve(p, type, (uint32_t)lengths[sent], &offset);
    if (status == SHMRING_FULL && reclaim(p, 0) > 0) status = try_reserve(p, type, (uint32_t)lengths[sent], &offset);
    if (status == SHMRING_FULL) {
      note_stall(p);
      break;
    }
    if (lengths[sent] > 0) memcpy(p->m.data + offset, payloads[sent], lengths[sent]);
    commit(p, 1);
  }
  p->corked = was_corked;
  if (!was_corked) flush(p);
  return (int)sent;
}

int shmring_claim(shmring_producer *p, uint32_t type, size_t length, void **payload) {
  int status = check_send(p, type, length);
  if (status != SHMRING_OK) return status;
  if (payload == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  uint32_t offset;
  status = try_reserve(p, type, (uint32_t)length, &offset);
  if (status == SHMRING_FULL && reclaim(p, 0) > 0) status = try_reserve(p, type, (uint32_t)length, &offset);
  if (status == SHMRING_FULL) {
    note_stall(p);
    flush(p);
    return status;
  }
  *payload = p->m.data + offset;
  return SHMRING_OK;
}

int shmring_commit(shmring_producer *p, size_t used) {
  if (p == NULL || p->reserved_length < 0 || used > (size_t)p->reserved_length) return SHMRING_ERR_INVALID_ARGUMENT;
  if (used < (size_t)p->reserved_length) {
    /* Shrink: the record ends earlier (writer.ts shrinkReserved). */
    uint32_t record_offset = p->reserved_offset - SHMRING_RECORD_HEADER_LENGTH;
    *WORD(p->m.data, record_offset + SHMRING_RECORD_LENGTH_OFFSET) = (uint32_t)used;
    p->reserved_end = p->reserved_end - record_length((uint32_t)p->reserved_length) + record_length((uint32_t)used);
    p->reserved_length = (int64_t)used;
  }
  commit(p, 1);
  return SHMRING_OK;
}

int shmring_claim_abort(shmring_producer *p) {
  if (p == NULL || p->reserved_length < 0) return SHMRING_ERR_INVALID_ARGUMENT;
  p->reserved_length = -1;
  return SHMRING_OK;
}

void shmring_set_corked(shmring_producer *p, int corked) {
  if (p == NULL || p->closed) return;
  p->corked = corked != 0;
  if (!p->corked) flush(p);
}

int shmring_flush(shmring_producer *p) {
  if (p == NULL || p->closed) return 0;
  return flush(p);
}

int shmring_producer_reclaim_dead(shmring_producer *p) {
  if (p == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  if (p->closed) return SHMRING_ERR_CLOSED;
  return reclaim(p, 1);
}

/* close and abort: the final record (waiting at most 100 ms for room), the state word, the wake, the lock. */
/*
 * wipe_on_close (wipe.ts wipeData): zeroes the data region, after giving tethered consumers up to `drain_ms`
 * to read what they were promised. Whatever is still unread is announced first (FLAGS bit WIPED, and
 * TAIL_INTENT a full ring ahead so untethered readers see themselves lapped): readers count it as lost and
 * end, instead of taking zeroed memory for corruption.
 */
static void wipe_data(shmring_producer *p, int drain_ms) {
  int64_t deadline = now_ms() + drain_ms;
  unsigned char *space_wake = CONSUMER(&p->m, SHMRING_SPACE_WAKE_OFFSET);
  unsigned char *waiting = CONSUMER(&p->m, SHMRING_PRODUCER_WAITING_OFFSET);
  int64_t last_reclaim = 0;
  for (;;) {
    uint32_t ticket = load32(space_wake, 0);
    store32(waiting, 0, 1);
    /* A tethered consumer that was killed reads nothing more: free its slot rather than wait for it (at
     * once, then every 100 ms). */
    if (now_ms() - last_reclaim >= 100) {
      last_reclaim = now_ms();
      reclaim(p, 1);
    }
    if (refresh_limit(p) - p->tail >= p->m.g.capacity || now_ms() >= deadline) break;
    futex_wait_ms(space_wake, ticket, 5);
  }
  store32(waiting, 0, 0);
  __atomic_or_fetch(WORD(p->m.control, SHMRING_FLAGS_OFFSET), SHMRING_FLAG_WIPED, __ATOMIC_SEQ_CST);
  store_pair(p->m.control, SHMRING_TAIL_INTENT_OFFSET, p->tail + p->m.g.capacity + SHMRING_RECORD_ALIGNMENT,
             &p->intent_high_stored);
  /* explicit_bzero: zeroing memory about to be unmapped is exactly what a compiler may think it can drop. */
  explicit_bzero(p->m.data, p->m.g.capacity);
}

static int finish(shmring_producer *p, uint32_t type, const void *payload, uint32_t length, int unlink_name) {
  if (p == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  p->reserved_length = -1;
  p->corked = 0;
  flush(p);
  int64_t deadline = now_ms() + 100;
  unsigned char *space_wake = CONSUMER(&p->m, SHMRING_SPACE_WAKE_OFFSET);
  unsigned char *waiting = CONSUMER(&p->m, SHMRING_PRODUCER_WAITING_OFFSET);
  for (;;) {
    uint32_t ticket = load32(space_wake, 0);
    store32(waiting, 0, 1);
    uint32_t offset;
    if (try_reserve(p, type, length, &offset) == SHMRING_OK) {
      if (length > 0) memcpy(p->m.data + offset, payload, length);
      commit(p, 0);
      break;
    }
    if (now_ms() >= deadline) break;
    reclaim(p, 1);
    futex_wait_ms(space_wake, ticket, 5);
  }
  /* The state word tells how the stream ended even when the final record did not fit (consumers held the
   * ring full): an abort must never read as a clean end. */
  store32(p->m.control, SHMRING_PRODUCER_STATE_OFFSET,
          type == SHMRING_RECORD_ABORT ? SHMRING_PRODUCER_STATE_ABORTED : SHMRING_PRODUCER_STATE_CLOSED);
  store32(waiting, 0, 0);
  wake_consumers(p);
  if (p->wipe_on_close) wipe_data(p, WIPE_DRAIN_MS);
  cas32(p->m.control, SHMRING_PRODUCER_PID_OFFSET, (uint32_t)p->me.pid, 0);
  if (unlink_name) {
    /* Only our ring: a name that now refers to another segment is left alone. */
    char path[300];
    struct stat info;
    shm_path(p->name, path, sizeof path);
    if (stat(path, &info) == 0 && info.st_ino == p->m.ino && info.st_dev == p->m.dev) unlink(path);
  }
  p->closed = 1;
  close_bells(p);
  unmap(&p->m);
  free(p);
  return SHMRING_OK;
}

int shmring_producer_close(shmring_producer *p, int unlink_name) {
  return finish(p, SHMRING_RECORD_END, NULL, 0, unlink_name);
}

/* Appends `text` to `out` as a JSON string body (quotes and control characters escaped). */
static size_t json_escape(char *out, size_t at, size_t size, const char *text) {
  for (const unsigned char *c = (const unsigned char *)text; *c != 0 && at + 7 < size; c++) {
    if (*c == '"' || *c == '\\') {
      out[at++] = '\\';
      out[at++] = (char)*c;
    } else if (*c < 0x20) {
      at += (size_t)snprintf(out + at, size - at, "\\u%04x", *c);
    } else {
      out[at++] = (char)*c;
    }
  }
  return at;
}

int shmring_producer_abort(shmring_producer *p, const char *message, const char *code, int unlink_name) {
  if (p == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  size_t limit = p->m.g.max_message_length < MAX_ABORT_PAYLOAD_LENGTH ? p->m.g.max_message_length : MAX_ABORT_PAYLOAD_LENGTH;
  char json[MAX_ABORT_PAYLOAD_LENGTH + 1];
  /* Room for the code (cut to 64 bytes) and the punctuation: the message is cut to fit the rest. */
  char short_code[65] = {0};
  if (code != NULL) snprintf(short_code, sizeof short_code, "%s", code);
  size_t reserve = code != NULL ? 16 + 6 * strlen(short_code) : 16;
  size_t at = 0;
  at += (size_t)snprintf(json, sizeof json, "{\"message\":\"");
  size_t message_room = limit > reserve + at ? limit - reserve : at + 1;
  at = json_escape(json, at, message_room, message != NULL ? message : "aborted");
  json[at++] = '"';
  if (code != NULL) {
    at += (size_t)snprintf(json + at, sizeof json - at, ",\"code\":\"");
    at = json_escape(json, at, sizeof json - 2, short_code);
    json[at++] = '"';
  }
  json[at++] = '}';
  if (at > limit) at = 0; /* a ring too small for any reason: an empty payload ("no reason given") */
  return finish(p, SHMRING_RECORD_ABORT, json, (uint32_t)at, unlink_name);
}

/* ------------------------------------------------------------------------------------------------ */
/* Consumer (src/ring/reader.ts, join.ts)                                                           */
/* ------------------------------------------------------------------------------------------------ */

struct shmring_consumer {
  mapping m;
  char name[256];
  identity me;
  int tethered;
  int32_t slot;
  uint32_t spin_microseconds;
  uint32_t wait_for_restart_ms;
  uint64_t position;
  uint64_t cached_tail;
  uint64_t published_head;
  uint64_t expected_sequence;
  int has_sequence;
  int resyncs_in_a_row;
  uint64_t lost, received, laps;
  int ended;  /* 0, or SHMRING_END / SHMRING_ERR_PRODUCER_ABORTED / an error: every later read returns it */
  char *scratch; /* untethered copies, max_message_length bytes */
  char abort_reason[MAX_ABORT_PAYLOAD_LENGTH + 1];
  identity producer;
  uint32_t producer_epoch;
  int64_t producer_dead_since;
  int64_t last_producer_check;
  int sleep_unguarded; /* this sleep: the ring wants our membarrier and the kernel refused it: poll */
};

void shmring_consumer_options_init(shmring_consumer_options *options) {
  memset(options, 0, sizeof *options);
  options->tethered = 1;
  options->spin_microseconds = 50;
}

static uint64_t tail_of(const shmring_consumer *c) { return load_pair(c->m.control, SHMRING_PUBLISHED_TAIL_OFFSET); }

/*
 * Where a new consumer starts (join.ts joinPoint). 'next': the tail and NEXT_SEQUENCE read together
 * (tail, sequence, tail again until unchanged); 'oldest': OLDEST_POSITION, the sequence learnt later.
 */
static void join_point(shmring_consumer *c, int from_oldest, uint64_t *start, int *has_sequence, uint64_t *sequence) {
  *has_sequence = 0;
  if (from_oldest) {
    *start = load_pair(c->m.control, SHMRING_OLDEST_POSITION_OFFSET);
    return;
  }
  uint64_t tail = tail_of(c);
  for (int attempt = 0; attempt < 16; attempt++) {
    uint64_t next = load_pair(c->m.control, SHMRING_NEXT_SEQUENCE_OFFSET);
    uint64_t again = tail_of(c);
    if (again == tail) {
      *start = tail;
      *sequence = next;
      *has_sequence = 1;
      return;
    }
    tail = again;
  }
  *start = tail;
}

static void set_slot_head(shmring_consumer *c, uint64_t head) {
  /* The high word first (release: it is never read before the low word that follows); only the low
   * word's store is a synchronisation point, so one full barrier per head, not two. */
  __atomic_store_n(WORD(SLOT_WORD(&c->m, (uint32_t)c->slot, SHMRING_SLOT_HEAD_HIGH_OFFSET), 0), (uint32_t)(head >> 32),
                   __ATOMIC_RELEASE);
  // SYNC POINT: Dekker pairs with the producer: its load of PRODUCER_WAITING after (space wake), its
  // store of TAIL_INTENT before its rescan of the heads (join).
  store32(SLOT_WORD(&c->m, (uint32_t)c->slot, SHMRING_SLOT_HEAD_OFFSET), 0, (uint32_t)head);
}

/*
 * Fixes the start so that a tethered consumer never needs to check for overwriting (join.ts settleJoin):
 * store the head, then load TAIL_INTENT; if the producer may already write past head + capacity, pick again.
 */
static void settle_join(shmring_consumer *c, int from_oldest) {
  uint64_t start = 0, sequence = 0;
  int has_sequence = 0;
  join_point(c, from_oldest, &start, &has_sequence, &sequence);
  for (int attempt = 0; attempt < 16; attempt++) {
    set_slot_head(c, start);
    // SYNC POINT: Dekker pair with raise_intent (store TAIL_INTENT, then rescan the heads).
    uint64_t intent = load_pair(c->m.control, SHMRING_TAIL_INTENT_OFFSET);
    if (intent <= start || intent - start <= c->m.g.capacity) break;
    join_point(c, attempt < 8 ? from_oldest : 0, &start, &has_sequence, &sequence);
  }
  c->position = c->cached_tail = c->published_head = start;
  c->has_sequence = has_sequence;
  c->expected_sequence = sequence;
}

/* Claims a free slot (CAS on SLOT_PID from 0), fills it in, marks it ACTIVE (slots.ts claimSlot). */
static int32_t claim_slot(shmring_consumer *c, uint64_t head) {
  mapping *m = &c->m;
  for (uint32_t index = 0; index < m->g.max_consumers; index++) {
    unsigned char *pid_word = SLOT_WORD(m, index, SHMRING_SLOT_PID_OFFSET);
    if (!cas32(pid_word, 0, 0, (uint32_t)c->me.pid)) continue;
    putf64(SLOT_WORD(m, index, SHMRING_SLOT_START_TIME_OFFSET), 0, c->me.start_time);
    putf64(SLOT_WORD(m, index, SHMRING_SLOT_PID_NAMESPACE_OFFSET), 0, c->me.pid_namespace);
    putf64(SLOT_WORD(m, index, SHMRING_SLOT_RECEIVED_OFFSET), 0, 0);
    putf64(SLOT_WORD(m, index, SHMRING_SLOT_LOST_OFFSET), 0, 0);
    putf64(SLOT_WORD(m, index, SHMRING_SLOT_JOINED_AT_MS_OFFSET), 0, wall_ms());
    store32(SLOT_WORD(m, index, SHMRING_SLOT_FLAGS_OFFSET), 0, c->tethered ? SHMRING_SLOT_FLAG_TETHERED : 0);
    store32(SLOT_WORD(m, index, SHMRING_SLOT_HEAD_HIGH_OFFSET), 0, (uint32_t)(head >> 32));
    store32(SLOT_WORD(m, index, SHMRING_SLOT_HEAD_OFFSET), 0, (uint32_t)head);
    // SYNC POINT: the slot becomes visible to the producer's limit scan only now, with its head in place.
    store32(SLOT_WORD(m, index, SHMRING_SLOT_STATE_OFFSET), 0, SHMRING_SLOT_STATE_ACTIVE);
    if ((int32_t)load32(pid_word, 0) == c->me.pid) return (int32_t)index;
  }
  return -1;
}

static void wake_producer(shmring_consumer *c) {
  if (!c->m.read_only) signal_space_if_waiting(&c->m);
}

/* Publishes our head (and counters), so a tethered producer may reuse what we read; wakes it if it waits. */
static void release(shmring_consumer *c) {
  if (c->slot < 0 || c->position == c->published_head) return;
  c->published_head = c->position;
  putf64(SLOT_WORD(&c->m, (uint32_t)c->slot, SHMRING_SLOT_RECEIVED_OFFSET), 0, (double)c->received);
  putf64(SLOT_WORD(&c->m, (uint32_t)c->slot, SHMRING_SLOT_LOST_OFFSET), 0, (double)c->lost);
  // SYNC POINT: pairs with the producer's load of the head in refresh_limit: everything before it may
  // now be overwritten.
  set_slot_head(c, c->position);
  wake_producer(c);
}

static void read_producer(shmring_consumer *c) {
  c->producer.pid = (int32_t)load32(c->m.control, SHMRING_PRODUCER_PID_OFFSET);
  c->producer.start_time = peekf64(c->m.control, SHMRING_PRODUCER_START_TIME_OFFSET);
  c->producer.pid_namespace = peekf64(c->m.control, SHMRING_PRODUCER_PID_NAMESPACE_OFFSET);
  c->producer_epoch = load32(c->m.control, SHMRING_PRODUCER_EPOCH_OFFSET);
}

int shmring_consumer_open(const char *name, const shmring_consumer_options *options, shmring_consumer **out) {
  if (out == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  *out = NULL;
  shmring_consumer_options o;
  shmring_consumer_options_init(&o);
  if (options != NULL) o = *options;
  shmring_consumer *c = calloc(1, sizeof *c);
  if (c == NULL) return SHMRING_ERR_OUT_OF_MEMORY;
  snprintf(c->name, sizeof c->name, "%s", name != NULL ? name : "");
  c->tethered = o.tethered != 0;
  c->spin_microseconds = o.spin_microseconds;
  c->wait_for_restart_ms = o.wait_for_restart_ms;
  c->me = current_process();
  int status = open_ring(name, 0, o.allow_foreign_owner, !c->tethered, &c->m);
  if (status != SHMRING_OK) {
    free(c);
    return status;
  }
  c->scratch = malloc(c->m.g.max_message_length ? c->m.g.max_message_length : 1);
  if (c->scratch == NULL) {
    unmap(&c->m);
    free(c);
    return SHMRING_ERR_OUT_OF_MEMORY;
  }
  if (c->m.read_only) {
    /* No slot to hold anyone back or to announce a sleep in: start where we join, validate every record. */
    c->slot = -1;
    int has_sequence = 0;
    uint64_t start = 0, sequence = 0;
    join_point(c, o.from_oldest, &start, &has_sequence, &sequence);
    c->position = c->cached_tail = c->published_head = start;
    c->has_sequence = has_sequence;
    c->expected_sequence = sequence;
    read_producer(c);
    *out = c;
    return SHMRING_OK;
  }
  uint64_t provisional = tail_of(c);
  c->slot = claim_slot(c, provisional);
  if (c->slot < 0 && reclaim_dead_slots(&c->m, c->me.pid) > 0) c->slot = claim_slot(c, provisional);
  if (c->slot < 0) {
    free(c->scratch);
    unmap(&c->m);
    free(c);
    return SHMRING_ERR_NO_FREE_SLOT;
  }
  settle_join(c, o.from_oldest);
  wake_producer(c);
  read_producer(c);
  *out = c;
  return SHMRING_OK;
}

/* Whether the record at our position may be being overwritten: TAIL_INTENT - position > capacity. */
static int lapped(shmring_consumer *c) {
  uint64_t intent = load_pair(c->m.control, SHMRING_TAIL_INTENT_OFFSET);
  return intent > c->position && intent - c->position > c->m.g.capacity;
}

static int wiped(shmring_consumer *c) { return (load32(c->m.control, SHMRING_FLAGS_OFFSET) & SHMRING_FLAG_WIPED) != 0; }

/* The producer wiped the data on close while we had not read everything: count it lost and end. */
static int end_after_wipe(shmring_consumer *c) {
  uint64_t next = load_pair(c->m.control, SHMRING_NEXT_SEQUENCE_OFFSET);
  if (c->has_sequence && next > c->expected_sequence) c->lost += next - c->expected_sequence;
  c->expected_sequence = next;
  c->position = c->cached_tail = tail_of(c);
  /* A wiped ABORT record: the state word still says the stream ended with an error. */
  c->ended = load32(c->m.control, SHMRING_PRODUCER_STATE_OFFSET) == SHMRING_PRODUCER_STATE_ABORTED ? SHMRING_ERR_PRODUCER_ABORTED : SHMRING_END;
  return c->ended;
}

/* Lapped: jump to the oldest record still guaranteed, or to the tail when even that keeps escaping us. */
static void resync(shmring_consumer *c) {
  c->laps += 1;
  c->resyncs_in_a_row += 1;
  uint64_t oldest = load_pair(c->m.control, SHMRING_OLDEST_POSITION_OFFSET);
  uint64_t tail = tail_of(c);
  int usable = tail >= oldest && tail - oldest <= c->m.g.capacity && oldest > c->position &&
               (oldest & (SHMRING_RECORD_ALIGNMENT - 1)) == 0;
  c->position = usable && c->resyncs_in_a_row < MAX_RESYNCS ? oldest : tail;
  c->cached_tail = tail;
  SHMRING_TEST_AFTER_RESYNC(c);
}

/*
 * Reads the next record (reader.ts read) into *record: OK (any type but PADDING), EMPTY, END (the data was
 * wiped on close), or CORRUPT_SEGMENT.
 */
static int read_record(shmring_consumer *c, shmring_record *record) {
  const uint32_t capacity = c->m.g.capacity;
  if (c->position - c->published_head >= capacity / 4) release(c);
  for (int skips = 0; skips <= MAX_SKIPS_PER_READ + 2 * MAX_RESYNCS;) {
    uint64_t position = c->position;
    if (position == c->cached_tail) {
      release(c);
      // SYNC POINT: acquire. Pairs with the producer's store of PUBLISHED_TAIL in flush.
      c->cached_tail = tail_of(c);
      if (position == c->cached_tail) return SHMRING_EMPTY;
    }
    /* A ring that will be wiped on close: every record is copied and checked, tethered or not
     * (FLAG_WIPE_ON_CLOSE; read after the tail: the producer sets it before its first publish). */
    int validate = !c->tethered || (peek32(c->m.control, SHMRING_FLAGS_OFFSET) & SHMRING_FLAG_WIPE_ON_CLOSE) != 0;
    if (c->cached_tail < position || c->cached_tail - position > capacity || (validate && lapped(c))) {
      /* Lapped, or behind a tail a restarted producer moved back. */
      if (wiped(c)) return end_after_wipe(c);
      resync(c);
      skips++;
      continue;
    }
    uint64_t available = c->cached_tail - position;
    if ((position | c->cached_tail) & (SHMRING_RECORD_ALIGNMENT - 1)) return SHMRING_ERR_CORRUPT_SEGMENT;
    uint32_t offset = (uint32_t)(position & (capacity - 1));
    const unsigned char *d = c->m.data;
    uint32_t payload_length = peek32(d, offset + SHMRING_RECORD_LENGTH_OFFSET);
    uint32_t type = peek32(d, offset + SHMRING_RECORD_TYPE_OFFSET);
    uint64_t sequence = ((uint64_t)peek32(d, offset + SHMRING_RECORD_SEQUENCE_HIGH_OFFSET) << 32) |
                        peek32(d, offset + SHMRING_RECORD_SEQUENCE_OFFSET);
    uint64_t length = type == SHMRING_RECORD_PADDING ? capacity - offset : record_length(payload_length);
    int valid = type >= SHMRING_RECORD_MESSAGE && type <= SHMRING_RECORD_ABORT &&
                payload_length <= c->m.g.max_message_length &&
                (type != SHMRING_RECORD_PADDING || payload_length == length - SHMRING_RECORD_HEADER_LENGTH) &&
                offset + length <= capacity && length <= available;
    if (!valid) {
      /* Garbage in a header is expected while an untethered reader is being lapped. */
      if (validate && lapped(c)) {
        if (wiped(c)) return end_after_wipe(c);
        resync(c);
        skips++;
        continue;
      }
      if (wiped(c)) return end_after_wipe(c);
      return SHMRING_ERR_CORRUPT_SEGMENT;
    }
    if (type == SHMRING_RECORD_PADDING) {
      c->position = position + length;
      skips++;
      continue;
    }
    const unsigned char *payload = d + offset + SHMRING_RECORD_HEADER_LENGTH;
    if (validate) {
      memcpy(c->scratch, payload, payload_length);
      /* A full fence between the copy's loads and the re-check (arm64; a locked op on x86). */
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      // SYNC POINT: pairs with raise_intent: not announced by the end of the copy, the copy is whole.
      if (lapped(c)) {
        if (wiped(c)) return end_after_wipe(c);
        resync(c);
        skips++;
        continue;
      }
      payload = (const unsigned char *)c->scratch;
    }
    c->position = position + length;
    c->resyncs_in_a_row = 0;
    record->type = type;
    record->length = payload_length;
    record->data = payload;
    record->sequence = sequence;
    if (c->has_sequence && sequence > c->expected_sequence) c->lost += sequence - c->expected_sequence;
    c->has_sequence = 1;
    if (type == SHMRING_RECORD_END || type == SHMRING_RECORD_ABORT) {
      c->expected_sequence = sequence;
      return SHMRING_OK;
    }
    c->expected_sequence = sequence + 1;
    c->received += 1;
    return SHMRING_OK;
  }
  /* Lapped again and again within this call (a producer that laps the ring faster than we take a step,
   * or a reader preempted between steps): nothing is wrong with the ring. Give up this call and read on
   * at the next; the loss is counted from the sequence of the next record delivered. The bound above is
   * what keeps a hostile ring from holding us here (as reader.ts). */
  return SHMRING_EMPTY;
}

/* One message, skipping an END or ABORT left by an earlier producer (one that is not the last record). */
static int next_message(shmring_consumer *c, shmring_record *record) {
  if (c == NULL || record == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  if (c->ended) return c->ended;
  for (int stale = 0; stale < 64; stale++) {
    int status = read_record(c, record);
    if (status == SHMRING_EMPTY) return SHMRING_EMPTY;
    if (status != SHMRING_OK) return c->ended = status; /* END after a wipe, CORRUPT_SEGMENT */
    uint32_t type = record->type;
    if (type == SHMRING_RECORD_MESSAGE || type == SHMRING_RECORD_BYTES) return SHMRING_OK;
    /* END or ABORT: the stream ends unless more was published after it (a restarted producer). */
    if (c->position != tail_of(c)) continue;
    if (type == SHMRING_RECORD_ABORT) {
      uint32_t n = record->length < MAX_ABORT_PAYLOAD_LENGTH ? record->length : MAX_ABORT_PAYLOAD_LENGTH;
      memcpy(c->abort_reason, record->data, n);
      c->abort_reason[n] = 0;
      c->ended = SHMRING_ERR_PRODUCER_ABORTED;
    } else {
      c->ended = SHMRING_END;
    }
    release(c);
    return c->ended;
  }
  return SHMRING_ERR_CORRUPT_SEGMENT;
}

int shmring_read(shmring_consumer *c, shmring_record *record) { return next_message(c, record); }

int shmring_poll(shmring_consumer *c, shmring_handler handler, void *ctx, size_t limit) {
  if (c == NULL || handler == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  int delivered = 0;
  shmring_record record;
  while (limit == 0 || (size_t)delivered < limit) {
    int status = next_message(c, &record);
    if (status != SHMRING_OK) {
      if (delivered > 0) return delivered;
      return status == SHMRING_EMPTY || status == SHMRING_END ? 0 : status;
    }
    delivered++;
    if (handler(ctx, &record) != 0 || delivered == 0x7fffffff) break;
  }
  return delivered;
}

/*
 * Called when the ring is empty (consumer.ts checkProducer): END when the producer closed without room
 * for its END record, PRODUCER_DIED when it has been dead for longer than wait_for_restart_ms.
 */
static int check_producer(shmring_consumer *c, int force) {
  int64_t now = now_ms();
  if (!force && now - c->last_producer_check < PRODUCER_CHECK_INTERVAL_MS) return SHMRING_OK;
  c->last_producer_check = now;
  if (c->slot >= 0 && (int32_t)load32(SLOT_WORD(&c->m, (uint32_t)c->slot, SHMRING_SLOT_PID_OFFSET), 0) != c->me.pid) {
    return c->ended = SHMRING_ERR_CONSUMER_EVICTED;
  }
  uint32_t state = load32(c->m.control, SHMRING_PRODUCER_STATE_OFFSET);
  identity before = c->producer;
  uint32_t epoch = c->producer_epoch;
  read_producer(c);
  if (c->producer.pid != before.pid || c->producer_epoch != epoch) c->producer_dead_since = 0;
  if (tail_of(c) != c->position) return SHMRING_OK;
  if (state == SHMRING_PRODUCER_STATE_ABORTED && c->producer.pid == 0) return c->ended = SHMRING_ERR_PRODUCER_ABORTED;
  if (state == SHMRING_PRODUCER_STATE_CLOSED && c->producer.pid == 0) return c->ended = SHMRING_END;
  if (c->producer.pid != 0 && liveness(c->producer) != DEAD) {
    c->producer_dead_since = 0;
    return SHMRING_OK;
  }
  if (c->producer_dead_since == 0) c->producer_dead_since = now;
  /* A restarted producer made a new ring under our name (or removed it): nobody will write to ours. */
  char path[300];
  struct stat info;
  if (shm_path(c->name, path, sizeof path) != SHMRING_OK || stat(path, &info) != 0 || info.st_ino != c->m.ino ||
      info.st_dev != c->m.dev) {
    return c->ended = SHMRING_ERR_RING_REPLACED;
  }
  if (now - c->producer_dead_since < (int64_t)c->wait_for_restart_ms) return SHMRING_OK;
  return c->ended = SHMRING_ERR_PRODUCER_DIED;
}

/* spin_for's test in shmring_wait: 1 when something is published past our position. */
static int has_data(void *ctx) {
  shmring_consumer *c = ctx;
  return tail_of(c) != c->position;
}

int shmring_wait(shmring_consumer *c, int timeout_ms) {
  if (c == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  if (c->ended) return c->ended;
  int64_t start = now_ms();
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + timeout_ms;
  if (spin_for(has_data, c, c->spin_microseconds)) return SHMRING_OK;
  unsigned char *waiters = CONSUMER(&c->m, SHMRING_DATA_WAITERS_OFFSET);
  unsigned char *tail_word = c->m.control + SHMRING_PUBLISHED_TAIL_OFFSET;
  for (;;) {
    int status = check_producer(c, 0);
    if (status != SHMRING_OK) return status;
    release(c);
    if (c->m.read_only) {
      /* Nothing to announce with: poll, sleeping on the tail so the wakes of the others reach us too. */
      uint32_t tail = load32(tail_word, 0);
      if (tail != (uint32_t)c->position || tail_of(c) != c->position) return SHMRING_OK;
      int64_t now = now_ms();
      if (now >= deadline) return SHMRING_ERR_TIMEOUT;
      futex_wait_ms(tail_word, tail, (int)(deadline - now < READ_ONLY_POLL_MS ? deadline - now : READ_ONLY_POLL_MS));
      if (tail_of(c) != c->position) return SHMRING_OK;
      continue;
    }
    /* A flag, not a count: the producer clears it when it wakes everyone. */
    store32(waiters, 0, 1);
    /* SYNC POINT: a producer that publishes with a release store relies on this membarrier between our
     * announcement and our re-check (docs/protocol.md, "The publish fence"). The word is read after the
     * announcement: a producer setting it now sees the announcement instead. */
    /* Any value but FULL asks for the fence: a damaged word, or a later kind of producer, costs a system
     * call, not a wake. Decided anew for every sleep (a takeover may change the word). */
    c->sleep_unguarded = load32(c->m.control, SHMRING_PRODUCER_PUBLISH_FENCE_OFFSET) != SHMRING_PUBLISH_FENCE_FULL &&
                         !fence_registered_processes();
    // SYNC POINT: Dekker pair with the producer's flush (store PUBLISHED_TAIL, then exchange DATA_WAITERS).
    uint32_t tail = load32(tail_word, 0);
    if (tail != (uint32_t)c->position || tail_of(c) != c->position) return SHMRING_OK;
    int64_t now = now_ms();
    if (now >= deadline) return SHMRING_ERR_TIMEOUT;
    int64_t sleep = deadline - now;
    if (sleep > PRODUCER_CHECK_INTERVAL_MS) sleep = PRODUCER_CHECK_INTERVAL_MS; /* to notice a dead producer */
    if (c->sleep_unguarded && sleep > READ_ONLY_POLL_MS) sleep = READ_ONLY_POLL_MS; /* no wake is certain */
    futex_wait_ms(tail_word, tail, (int)sleep);
    if (tail_of(c) != c->position) return SHMRING_OK;
    check_producer(c, 1);
    if (c->ended) return c->ended;
  }
}

/* struct futex_waitv (Linux 5.16), spelled out for older kernel headers. */
struct waitv_entry {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITV_FUTEX_32 2 /* FUTEX_32, and never FUTEX_PRIVATE_FLAG: the wakers are other processes */

/* The first consumer from `first` on (round the array) with something to read, or ended; -1 when none. */
static int first_ready(shmring_consumer *const *consumers, size_t count, size_t first) {
  for (size_t k = 0; k < count; k++) {
    size_t i = (first + k) % count;
    if (consumers[i]->ended || tail_of(consumers[i]) != consumers[i]->position) return (int)i;
  }
  return -1;
}

struct ready_wanted {
  shmring_consumer *const *consumers;
  size_t count, first;
};
/* spin_for's test in shmring_wait_any: the ready index + 1, or 0. */
static int any_ready(void *ctx) {
  struct ready_wanted *wanted = ctx;
  return first_ready(wanted->consumers, wanted->count, wanted->first) + 1;
}

int shmring_wait_any(shmring_consumer *const *consumers, size_t count, size_t first, int timeout_ms) {
  if (consumers == NULL || count == 0 || count > SHMRING_WAIT_ANY_MAX) return SHMRING_ERR_INVALID_ARGUMENT;
  first %= count;
  uint32_t spin_microseconds = UINT32_MAX;
  for (size_t i = 0; i < count; i++) {
    if (consumers[i] == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
    if (consumers[i]->spin_microseconds < spin_microseconds) spin_microseconds = consumers[i]->spin_microseconds;
  }
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
  /* Spin briefly, as shmring_wait: the shortest spin any of them asked for. */
  struct ready_wanted wanted = {consumers, count, first};
  int spun = spin_for(any_ready, &wanted, spin_microseconds);
  if (spun > 0) return spun - 1;
  struct waitv_entry words[SHMRING_WAIT_ANY_MAX];
  for (;;) {
    for (size_t i = 0; i < count; i++) {
      if (check_producer(consumers[i], 0) != SHMRING_OK) return (int)i;
    }
    /* SYNC POINT: announce on every ring, then (one membarrier for every ring that asks for it: the publish
     * fence) re-check every tail; the Dekker pair of shmring_wait, ring by ring. */
    int fence = 0, poll_only = 0;
    for (size_t i = 0; i < count; i++) {
      shmring_consumer *c = consumers[i];
      if (c->m.read_only) {
        poll_only = 1; /* nothing to announce with: nobody wakes it */
        continue;
      }
      release(c);
      store32(CONSUMER(&c->m, SHMRING_DATA_WAITERS_OFFSET), 0, 1);
      if (load32(c->m.control, SHMRING_PRODUCER_PUBLISH_FENCE_OFFSET) != SHMRING_PUBLISH_FENCE_FULL) fence = 1;
    }
    if (fence && !fence_registered_processes()) poll_only = 1;
    for (size_t i = 0; i < count; i++) {
      shmring_consumer *c = consumers[i];
      uint32_t tail = load32(c->m.control, SHMRING_PUBLISHED_TAIL_OFFSET);
      if (tail != (uint32_t)c->position || tail_of(c) != c->position) return (int)i;
      words[i].val = tail;
      words[i].uaddr = (uint64_t)(uintptr_t)(c->m.control + SHMRING_PUBLISHED_TAIL_OFFSET);
      words[i].flags = WAITV_FUTEX_32;
      words[i].reserved = 0;
    }
    int64_t now = now_ms();
    if (now >= deadline) return SHMRING_ERR_TIMEOUT;
    int64_t sleep = deadline - now;
    if (sleep > PRODUCER_CHECK_INTERVAL_MS) sleep = PRODUCER_CHECK_INTERVAL_MS; /* to notice a dead producer */
    if (poll_only && sleep > READ_ONLY_POLL_MS) sleep = READ_ONLY_POLL_MS;     /* no wake is certain */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += sleep / 1000;
    until.tv_nsec += (long)(sleep % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    long woken = syscall(SYS_futex_waitv, words, (unsigned)count, 0u, &until, CLOCK_MONOTONIC);
    int waitv_error = woken < 0 ? errno : 0;
    if (waitv_error != 0 && waitv_error != EAGAIN && waitv_error != ETIMEDOUT && waitv_error != EINTR) {
      /* No futex_waitv (before Linux 5.16: ENOSYS; a seccomp filter: EPERM, ...): poll, sleeping on the
       * first ring's tail. Never retry at once: that would spin, announcing and fencing every time. */
      futex_wait_ms((void *)(uintptr_t)words[0].uaddr, (uint32_t)words[0].val, sleep < READ_ONLY_POLL_MS ? (int)sleep : READ_ONLY_POLL_MS);
    }
    int ready = first_ready(consumers, count, first);
    if (ready >= 0) return ready;
    if (waitv_error == ETIMEDOUT) {
      for (size_t i = 0; i < count; i++) {
        if (check_producer(consumers[i], 1) != SHMRING_OK || consumers[i]->ended) return (int)i;
      }
    }
  }
}

int shmring_ended(const shmring_consumer *c) { return c ? c->ended : SHMRING_ERR_INVALID_ARGUMENT; }
int shmring_consumer_read_only(const shmring_consumer *c) { return c != NULL && c->m.read_only; }

uint64_t shmring_consumer_lost(const shmring_consumer *c) { return c ? c->lost : 0; }
uint64_t shmring_consumer_received(const shmring_consumer *c) { return c ? c->received : 0; }
const char *shmring_abort_reason(const shmring_consumer *c) { return c ? c->abort_reason : ""; }

int shmring_consumer_close(shmring_consumer *c) {
  if (c == NULL) return SHMRING_ERR_INVALID_ARGUMENT;
  if (c->slot >= 0) {
    mapping *m = &c->m;
    unsigned char *pid_word = SLOT_WORD(m, (uint32_t)c->slot, SHMRING_SLOT_PID_OFFSET);
    if ((int32_t)load32(pid_word, 0) == c->me.pid) {
      release(c);
      clear_identity(m, (uint32_t)c->slot);
      cas32(pid_word, 0, (uint32_t)c->me.pid, 0);
    }
    /* Our slot no longer holds the producer back: it may be waiting for that space. */
    wake_producer(c);
  }
  free(c->scratch);
  unmap(&c->m);
  free(c);
  return SHMRING_OK;
}
