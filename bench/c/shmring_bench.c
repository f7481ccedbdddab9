/*
 * The C client's side of bench/scenarios/c-client.js: a producer or a consumer of a shmring ring written
 * with native/include/shmring.h, speaking the harness's wire protocol (bench/lib/role.js: print READY,
 * wait for GO on stdin, print RESULT <json>) and the message protocol of bench/scenarios/throughput.js, so
 * each side can face a Node process of that scenario:
 *
 *   raw messages of SIZE bytes whose first 4 bytes are the message counter (little-endian); after the
 *   warm-up a 2-byte start marker (the consumer resets its counts), at the end a 1-byte end marker.
 *
 *   shmring_bench producer '{"name":..,"capacity":..,"size":..,"durationMs":..,"warmupMs":..,"batch":..}'
 *     batch > 0: shmring_send_batch of `batch` messages per call (one publish per batch, as the Node
 *     batch path's sendBytesBatch); 0 (default): shmring_send per message
 *     "sequential":1: options.sequential_publish (a full barrier per publish, no membarrier asked of the
 *     consumer): what the publish fence saves
 *   shmring_bench consumer '{"name":..,"size":..}'
 *
 * Times are CLOCK_MONOTONIC ns, the clock of Node's process.hrtime.bigint(): one clock for all processes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#define WAIT_SLICE_MS 1000
#define GIVE_UP_NS (30ull * 1000000000ull)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* A number or string field of the flat JSON parameters (enough for the harness's own output). */
static const char *field(const char *json, const char *key, char *out, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *at = strstr(json, pattern);
  if (at == NULL) return NULL;
  at += strlen(pattern);
  if (*at == '"') {
    at++;
    size_t n = 0;
    while (at[n] != '"' && at[n] != 0 && n + 1 < size) n++;
    memcpy(out, at, n);
    out[n] = 0;
  } else {
    snprintf(out, size, "%.*s", (int)strcspn(at, ",}"), at);
  }
  return out;
}

static uint64_t number(const char *json, const char *key, uint64_t fallback) {
  char text[64];
  return field(json, key, text, sizeof text) ? strtoull(text, NULL, 10) : fallback;
}

/* READY, then block until the harness writes GO. */
static void ready(void) {
  printf("READY\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "GO", 2) == 0) return;
  }
  _exit(3); /* the harness went away */
}

/*
 * After RESULT: stay until the harness is done with us (it closes stdin or kills us), so the RESULT line
 * is read before the harness sees this process exit (it gives the pipe only a tick after 'exit').
 */
static int linger(void) {
  fflush(stdout);
  alarm(60);
  char buffer[64];
  while (fgets(buffer, sizeof buffer, stdin) != NULL) {
  }
  return 0;
}

static int send_blocking(shmring_producer *p, const void *bytes, size_t length, uint64_t give_up, uint64_t *stalls) {
  int status = shmring_send(p, SHMRING_RECORD_BYTES, bytes, length);
  if (status != SHMRING_FULL) return status;
  ++*stalls;
  while ((status = shmring_send_wait(p, SHMRING_RECORD_BYTES, bytes, length, WAIT_SLICE_MS)) == SHMRING_ERR_TIMEOUT) {
    if (now_ns() > give_up) return status;
  }
  return status;
}

/* `count` messages (raw + i * size, counters from `first`) in shmring_send_batch calls; a full ring waits. */
static int send_batch_blocking(shmring_producer *p, unsigned char *raw, size_t size, size_t count, uint64_t first,
                               uint64_t give_up, uint64_t *stalls) {
  const void *payloads[256];
  size_t lengths[256];
  for (size_t i = 0; i < count; i++) {
    uint32_t counter = (uint32_t)(first + i);
    memcpy(raw + i * size, &counter, 4);
    payloads[i] = raw + i * size;
    lengths[i] = size;
  }
  for (size_t done = 0; done < count;) {
    int got = shmring_send_batch(p, SHMRING_RECORD_BYTES, payloads + done, lengths + done, count - done);
    if (got < 0) return got;
    done += (size_t)got;
    if (done < count) { /* full: sleep for space with the next message, then go on with the rest */
      int status = send_blocking(p, payloads[done], size, give_up, stalls);
      if (status != SHMRING_OK) return status;
      done++;
    }
  }
  return SHMRING_OK;
}

static int producer(const char *params) {
  char name[256];
  if (!field(params, "name", name, sizeof name)) return 2;
  size_t size = number(params, "size", 64);
  uint64_t duration_ns = number(params, "durationMs", 1000) * 1000000ull;
  uint64_t warmup_ns = number(params, "warmupMs", 300) * 1000000ull;
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = (uint32_t)number(params, "capacity", 1 << 20);
  options.sequential_publish = (int)number(params, "sequential", 0);
  shmring_producer *p;
  int status = shmring_producer_create(name, &options, &p);
  if (status != SHMRING_OK) {
    fprintf(stderr, "create %s: %s\n", name, shmring_strerror(status));
    return 1;
  }
  size_t batch = number(params, "batch", 0);
  if (batch > 256) batch = 256;
  size_t slots = batch > 0 ? batch : 1;
  unsigned char *raw = calloc(slots, size < 4 ? 4 : size);
  memset(raw, 0xab, slots * size);
  ready();
  uint64_t sent = 0, stalls = 0;
  uint64_t t0 = now_ns(), deadline = t0 + warmup_ns, give_up = deadline + GIVE_UP_NS;
  int warm = warmup_ns == 0;
  if (warm) deadline = t0 + duration_ns;
  double cpu0 = cpu_seconds();
  for (;;) {
    if ((sent & 63) == 0 && now_ns() >= deadline) {
      if (warm) break;
      unsigned char start[2] = {0, 0};
      if (send_blocking(p, start, 2, give_up, &stalls) != SHMRING_OK) return 1;
      warm = 1;
      sent = stalls = 0;
      cpu0 = cpu_seconds();
      t0 = now_ns();
      deadline = t0 + duration_ns;
      give_up = deadline + GIVE_UP_NS;
      continue;
    }
    if (batch > 0) {
      if (send_batch_blocking(p, raw, size, batch, sent, give_up, &stalls) != SHMRING_OK) {
        fprintf(stderr, "consumers stopped reading\n");
        return 1;
      }
      sent += batch;
      continue;
    }
    uint32_t counter = (uint32_t)sent;
    memcpy(raw, &counter, 4);
    if (send_blocking(p, raw, size, give_up, &stalls) != SHMRING_OK) {
      fprintf(stderr, "consumers stopped reading\n");
      return 1;
    }
    sent++;
  }
  unsigned char end = 0xee;
  send_blocking(p, &end, 1, give_up, &stalls);
  double cpu = cpu_seconds() - cpu0;
  shmring_producer_close(p, 1);
  printf("RESULT {\"t0\":%llu,\"sent\":%llu,\"prodCpuS\":%.6f,\"stalls\":%llu}\n", (unsigned long long)t0,
         (unsigned long long)sent, cpu, (unsigned long long)stalls);
  return linger();
}

typedef struct counts {
  size_t size;
  unsigned char *local;
  uint64_t messages, bytes, sequence_errors;
  double cpu0;
  int end;
} counts;

static int on_message(void *ctx, const shmring_record *record) {
  counts *c = ctx;
  if (record->length == 2) {
    c->messages = c->bytes = c->sequence_errors = 0;
    c->cpu0 = cpu_seconds();
    return 0;
  }
  if (record->length != c->size) {
    c->end = 1;
    return 1;
  }
  memcpy(c->local, record->data, record->length); /* the same work as the C reference: copy it out */
  uint32_t counter;
  memcpy(&counter, c->local, 4);
  if (counter != (uint32_t)c->messages) c->sequence_errors++;
  c->messages++;
  c->bytes += record->length;
  return 0;
}

static int consumer(const char *params) {
  char name[256];
  if (!field(params, "name", name, sizeof name)) return 2;
  counts c = {0};
  c.size = number(params, "size", 64);
  c.local = calloc(1, c.size < 4 ? 4 : c.size);
  shmring_consumer *k;
  int status = shmring_consumer_open(name, NULL, &k);
  if (status != SHMRING_OK) {
    fprintf(stderr, "open %s: %s\n", name, shmring_strerror(status));
    return 1;
  }
  ready();
  c.cpu0 = cpu_seconds();
  uint64_t give_up = now_ns() + 60ull * 1000000000ull;
  while (!c.end) {
    int delivered = shmring_poll(k, on_message, &c, 0);
    if (delivered < 0) {
      fprintf(stderr, "poll: %s\n", shmring_strerror(delivered));
      return 1;
    }
    if (delivered > 0 || c.end) continue;
    status = shmring_wait(k, WAIT_SLICE_MS);
    if (status != SHMRING_OK && (status != SHMRING_ERR_TIMEOUT || now_ns() > give_up)) {
      fprintf(stderr, "no end marker: %s\n", shmring_strerror(status));
      return 1;
    }
  }
  uint64_t t_end = now_ns();
  double cpu = cpu_seconds() - c.cpu0;
  shmring_consumer_close(k);
  printf("RESULT {\"tEnd\":%llu,\"messages\":%llu,\"bytes\":%llu,\"sequenceErrors\":%llu,\"consCpuS\":%.6f}\n",
         (unsigned long long)t_end, (unsigned long long)c.messages, (unsigned long long)c.bytes,
         (unsigned long long)c.sequence_errors, cpu);
  return linger();
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: shmring_bench producer|consumer '<params json>'\n");
    return 2;
  }
  if (strcmp(argv[1], "producer") == 0) return producer(argv[2]);
  if (strcmp(argv[1], "consumer") == 0) return consumer(argv[2]);
  return 2;
}
