/*
 * Reference ring in C: the physical limit of this machine for what shmring does.
 *
 *   producer process ─▶ shm ring (SPSC, busy-spin) ─▶ consumer process      (mode "tput")
 *   ping process ◀──▶ two cache-line words in shm ◀──▶ pong process          (mode "pingpong")
 *
 * Same work per message as shmring's raw path: an 8-byte record header (length, type), the payload
 * copied in with memcpy, 8-byte aligned records with a padding record at the wrap, the consumer copying
 * the payload out and reading its sequence number. The producer publishes its tail once per message
 * (release), caches the consumer's head and re-reads it only when the ring looks full; the consumer
 * publishes its head once per batch. Two processes (fork) over a POSIX shm segment that is unlinked as
 * soon as it is mapped, so nothing is left in /dev/shm even if the run is killed.
 *
 * Build: cc -O2 -std=c11 -o ref_ring ref_ring.c  (-lrt on old glibc)
 * Usage: ref_ring tput <segment-name> <message-bytes> <duration-ms> <max-messages> <capacity>
 *        ref_ring pingpong <segment-name> <round-trips> <warmup> <max-ms>
 * Prints one JSON line on stdout. Every loop is bounded in time (GIVE_UP_NS past the planned end), and
 * the forked child dies with its parent (PR_SET_PDEATHSIG), so no spinning process is ever left behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 128
#define GIVE_UP_NS (30ull * 1000000000ull)
#define PAD_TYPE 2u
#define MSG_TYPE 1u
#define END_TYPE 3u

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Spin; after a long fruitless spin (the peer is probably not on a CPU: oversubscribed machine) yield
 * the CPU so that the peer can run. Never reached while both sides are running. */
static void spin_wait(uint64_t polls) {
  cpu_pause();
  if ((polls & 0x3fff) == 0x3fff) sched_yield();
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Maps a fresh segment and unlinks its name at once: the mapping survives fork, the name never leaks. */
static void *map_segment(const char *name, size_t length) {
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) { perror("shm_open"); exit(2); }
  if (ftruncate(fd, (off_t)length) != 0) { perror("ftruncate"); shm_unlink(name); exit(2); }
  void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int saved = errno;
  shm_unlink(name);
  close(fd);
  if (p == MAP_FAILED) { errno = saved; perror("mmap"); exit(2); }
  memset(p, 0, length); /* prefault, like MAP_POPULATE */
  return p;
}

typedef struct {
  _Alignas(BLOCK) _Atomic uint64_t tail;   /* producer: position past the last published record */
  _Alignas(BLOCK) _Atomic uint64_t head;   /* consumer: position past the last consumed record */
  _Alignas(BLOCK) _Atomic uint64_t start_ns; /* producer's clock at its first send */
  _Alignas(BLOCK) unsigned char data[];
} ring_t;

/* In the forked child: die with the parent, even if it is SIGKILLed. */
static void die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int tput(const char *name, size_t msg, uint64_t duration_ms, uint64_t max_msgs, size_t capacity) {
  size_t mask = capacity - 1;
  ring_t *r = map_segment(name, sizeof(ring_t) + capacity);
  unsigned char *payload = aligned_alloc(64, msg < 64 ? 64 : (msg + 63) & ~(size_t)63);
  memset(payload, 0xab, msg);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    /* consumer */
    die_with_parent(parent);
    uint64_t give_up = now_ns() + duration_ms * 1000000ull + GIVE_UP_NS;
    uint64_t idle_polls = 0;
    unsigned char *out = aligned_alloc(64, msg < 64 ? 64 : (msg + 63) & ~(size_t)63);
    uint64_t head = 0, count = 0, bytes = 0, bad = 0;
    uint32_t expect = 0;
    double cpu0 = cpu_seconds();
    for (;;) {
      uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
      if (tail == head) {
        spin_wait(++idle_polls);
        if ((idle_polls & 0xfffff) == 0 && now_ns() > give_up) { fprintf(stderr, "consumer: producer stopped\n"); _exit(4); }
        continue;
      }
      int end = 0;
      while (head != tail) {
        unsigned char *rec = r->data + (head & mask);
        uint32_t len, type;
        memcpy(&len, rec, 4);
        memcpy(&type, rec + 4, 4);
        if (type == MSG_TYPE) {
          memcpy(out, rec + 8, len);
          uint32_t seq;
          memcpy(&seq, out, 4);
          if (len >= 4 && seq != expect) bad++;
          expect++;
          count++;
          bytes += len;
        } else if (type == END_TYPE) {
          end = 1;
        }
        head += type == PAD_TYPE ? len : ((8 + (uint64_t)len + 7) & ~(uint64_t)7);
      }
      atomic_store_explicit(&r->head, head, memory_order_release);
      if (end) break;
    }
    uint64_t t1 = now_ns();
    double cpu = cpu_seconds() - cpu0;
    uint64_t t0 = atomic_load_explicit(&r->start_ns, memory_order_acquire);
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.9f,\"msgs_per_s\":%.1f,\"bytes_per_s\":%.1f,"
           "\"cons_cpu_s\":%.6f,\"sequence_errors\":%llu",
           (unsigned long long)count, (unsigned long long)bytes, secs, count / secs, bytes / secs, cpu,
           (unsigned long long)bad);
    fflush(stdout);
    _exit(0);
  }
  /* producer */
  uint64_t tail = 0, cached_head = 0, sent = 0;
  size_t rec_len = (8 + msg + 7) & ~(size_t)7;
  double cpu0 = cpu_seconds();
  uint64_t t0 = now_ns(), deadline = t0 + duration_ms * 1000000ull;
  atomic_store_explicit(&r->start_ns, t0, memory_order_release);
  for (;;) {
    if ((sent & 1023) == 0 && (sent >= max_msgs || now_ns() >= deadline)) break;
    size_t off = tail & mask;
    size_t need = rec_len;
    size_t to_end = capacity - off;
    if (to_end < rec_len) need = to_end + rec_len; /* padding + record */
    for (uint64_t polls = 0; tail + need - cached_head > capacity; polls++) {
      cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
      if (tail + need - cached_head > capacity) spin_wait(polls);
      if ((polls & 0xfffff) == 0xfffff && now_ns() > deadline + GIVE_UP_NS) { fprintf(stderr, "producer: consumer stopped\n"); kill(pid, SIGKILL); return 4; }
    }
    if (to_end < rec_len) {
      uint32_t hdr[2] = {(uint32_t)to_end, PAD_TYPE};
      memcpy(r->data + off, hdr, 8);
      tail += to_end;
      off = 0;
    }
    uint32_t seq = (uint32_t)sent;
    memcpy(payload, &seq, msg >= 4 ? 4 : msg);
    uint32_t hdr[2] = {(uint32_t)msg, MSG_TYPE};
    memcpy(r->data + off, hdr, 8);
    memcpy(r->data + off + 8, payload, msg);
    tail += rec_len;
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    sent++;
  }
  /* end marker */
  {
    size_t off = tail & mask;
    /* records are 8-aligned, so 8 bytes always fit before the end */
    for (uint64_t polls = 0; tail + 8 - atomic_load_explicit(&r->head, memory_order_acquire) > capacity; polls++) {
      spin_wait(polls);
      if ((polls & 0xfffff) == 0xfffff && now_ns() > deadline + GIVE_UP_NS) { kill(pid, SIGKILL); return 4; }
    }
    uint32_t hdr[2] = {0, END_TYPE};
    memcpy(r->data + off, hdr, 8);
    tail += 8;
    atomic_store_explicit(&r->tail, tail, memory_order_release);
  }
  double cpu = cpu_seconds() - cpu0;
  int status;
  fflush(stdout);
  waitpid(pid, &status, 0);
  printf(",\"sent\":%llu,\"prod_cpu_s\":%.6f}\n", (unsigned long long)sent, cpu);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

typedef struct {
  _Alignas(BLOCK) _Atomic uint64_t ping;
  _Alignas(BLOCK) _Atomic uint64_t pong;
} pingpong_t;

/* Ping-pong until `rounds` round trips or `max_ms` have passed, whichever comes first. */
static int pingpong(const char *name, uint64_t rounds, uint64_t warmup, uint64_t max_ms) {
  pingpong_t *pp = map_segment(name, sizeof(pingpong_t));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  uint64_t total = rounds + warmup;
  if (pid == 0) {
    die_with_parent(parent);
    uint64_t give_up = now_ns() + max_ms * 1000000ull + GIVE_UP_NS;
    for (uint64_t i = 1; i <= total; i++) {
      for (uint64_t polls = 0; atomic_load_explicit(&pp->ping, memory_order_acquire) != i; polls++) {
        spin_wait(polls);
        if ((polls & 0xfffff) == 0xfffff && now_ns() > give_up) _exit(4);
      }
      atomic_store_explicit(&pp->pong, i, memory_order_release);
    }
    _exit(0);
  }
  uint64_t *rtt = malloc(sizeof(uint64_t) * rounds);
  uint64_t deadline = now_ns() + max_ms * 1000000ull;
  uint64_t done = 0;
  for (uint64_t i = 1; i <= total; i++) {
    uint64_t t0 = now_ns();
    if (t0 > deadline && done > 0) break;
    atomic_store_explicit(&pp->ping, i, memory_order_release);
    for (uint64_t polls = 0; atomic_load_explicit(&pp->pong, memory_order_acquire) != i; polls++) {
      spin_wait(polls);
      if ((polls & 0xfffff) == 0xfffff && now_ns() > deadline + GIVE_UP_NS) { kill(pid, SIGKILL); return 4; }
    }
    uint64_t t1 = now_ns();
    if (i > warmup) rtt[done++] = t1 - t0;
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  rounds = done;
  if (rounds == 0) { fprintf(stderr, "pingpong: no round trip within %llu ms\n", (unsigned long long)max_ms); return 4; }
  qsort(rtt, rounds, sizeof(uint64_t), cmp_u64);
#define PCT(p) (rtt[(size_t)((double)(p) * (rounds - 1))] / 2.0 / 1000.0)
  printf("{\"samples\":%llu,\"p50_us\":%.4f,\"p99_us\":%.4f,\"p999_us\":%.4f,\"max_us\":%.4f,\"rtt_p50_us\":%.4f}\n",
         (unsigned long long)rounds, PCT(0.5), PCT(0.99), PCT(0.999), rtt[rounds - 1] / 2.0 / 1000.0,
         rtt[(rounds - 1) / 2] / 1000.0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 7 && strcmp(argv[1], "tput") == 0) {
    size_t capacity = strtoull(argv[6], NULL, 10);
    if (capacity == 0 || (capacity & (capacity - 1)) != 0) { fprintf(stderr, "capacity must be a power of two\n"); return 2; }
    return tput(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10), capacity);
  }
  if (argc >= 6 && strcmp(argv[1], "pingpong") == 0) {
    return pingpong(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
  }
  fprintf(stderr, "usage: ref_ring tput <name> <bytes> <ms> <max> <capacity> | pingpong <name> <rounds> <warmup> <max-ms>\n");
  return 2;
}
