/*
 * The publish fence under traffic that makes consumers sleep all the time (run by
 * test/c/publish-fence.test.ts; docs/protocol.md, "The publish fence").
 *
 *   fence_stress producer NAME COUNT SEQUENTIAL [PAUSE_NS]   creates the ring (SEQUENTIAL 1: options.sequential_publish),
 *       prints {"ready":true,"fence":F}, waits for a line on stdin, then sends COUNT 8-byte messages (byte i
 *       of message s is (7 s + i) & 0xff, as shmring_tool and test/fixtures/c-peer.js), pausing a pseudo-random 0-4 µs between sends so that consumers keep draining the ring and
 *       going to sleep just as the next publish comes; closes with END and prints {"done":true,...}
 *   fence_stress consumer NAME [COUNT]            joins tethered with no spinning, prints {"joined":true},
 *       reads to the END (or COUNT messages) checking every byte and the order, prints {"done":true,"received":N}
 *
 * The library is compiled in with the consumer's periodic producer check stretched to 10 minutes: a
 * wake lost by the handshake is then a hang (the test's bound fails it), not a 100 ms hiccup.
 */
#define PRODUCER_CHECK_INTERVAL_MS 600000
#include "../../native/lib/shmring.c"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int producer(const char *name, uint64_t count, int sequential, uint64_t pause_ns) {
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = 1 << 16;
  options.sequential_publish = sequential;
  shmring_producer *p;
  int status = shmring_producer_create(name, &options, &p);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"create\"}\n", shmring_strerror(status));
    return 1;
  }
  printf("{\"ready\":true,\"fence\":%u}\n", load32(p->m.control, SHMRING_PRODUCER_PUBLISH_FENCE_OFFSET));
  fflush(stdout);
  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  uint64_t random = 0x9e3779b97f4a7c15ull;
  for (uint64_t i = 0; i < count; i++) {
    unsigned char payload[8];
    for (size_t b = 0; b < sizeof payload; b++) payload[b] = (unsigned char)((i * 7 + b) & 0xff);
    status = shmring_send_wait(p, SHMRING_RECORD_BYTES, payload, sizeof payload, 60000);
    if (status != SHMRING_OK) {
      printf("{\"error\":\"%s\",\"where\":\"send\",\"at\":%llu}\n", shmring_strerror(status), (unsigned long long)i);
      return 1;
    }
    random ^= random << 13, random ^= random >> 7, random ^= random << 17;
    uint64_t until = now_ns() + random % pause_ns;
    while (now_ns() < until) {
    }
  }
  double wakes = p->wakes_sent;
  shmring_producer_close(p, 0); /* the test unlinks the ring once the consumers are done */
  printf("{\"done\":true,\"sent\":%llu,\"wakes\":%.0f}\n", (unsigned long long)count, wakes);
  return 0;
}

static int consumer(const char *name, uint64_t count) {
  shmring_consumer_options options;
  shmring_consumer_options_init(&options);
  options.tethered = 1;
  options.spin_microseconds = 0;
  shmring_consumer *c;
  int status = shmring_consumer_open(name, &options, &c);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"open\"}\n", shmring_strerror(status));
    return 1;
  }
  printf("{\"joined\":true}\n");
  fflush(stdout);
  uint64_t received = 0;
  while (count == 0 || received < count) {
    shmring_record record;
    status = shmring_read(c, &record);
    if (status == SHMRING_OK) {
      const unsigned char *bytes = record.data;
      int intact = record.length == 8 && record.sequence == received;
      for (size_t b = 0; intact && b < record.length; b++) intact = bytes[b] == (unsigned char)((received * 7 + b) & 0xff);
      if (!intact) {
        printf("{\"error\":\"message %llu: sequence %llu, length %u\"}\n", (unsigned long long)received,
               (unsigned long long)record.sequence, record.length);
        return 1;
      }
      received++;
      continue;
    }
    if (status == SHMRING_END) break;
    if (status != SHMRING_EMPTY) return printf("{\"error\":\"%s\",\"where\":\"read\"}\n", shmring_strerror(status)), 1;
    status = shmring_wait(c, -1);
    if (status == SHMRING_END) break;
    if (status != SHMRING_OK) return printf("{\"error\":\"%s\",\"where\":\"wait\"}\n", shmring_strerror(status)), 1;
  }
  shmring_consumer_close(c);
  printf("{\"done\":true,\"received\":%llu}\n", (unsigned long long)received);
  return 0;
}

int main(int argc, char **argv) {
  if ((argc == 5 || argc == 6) && strcmp(argv[1], "producer") == 0) {
    uint64_t pause_ns = argc == 6 ? strtoull(argv[5], NULL, 10) : 4000;
    return producer(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]), pause_ns > 0 ? pause_ns : 1);
  }
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "consumer") == 0) {
    return consumer(argv[2], argc == 4 ? strtoull(argv[3], NULL, 10) : 0);
  }
  fprintf(stderr, "usage: fence_stress producer NAME COUNT SEQUENTIAL [PAUSE_NS] | consumer NAME [COUNT]\n");
  return 2;
}
