/*
 * shmring_wait_any across several rings (run by test/c/wait-any.test.ts).
 *
 *   wait_any idle MS NAME...   joins every ring and waits once, MS ms, on rings nobody writes to: prints
 *       {"done":true,"result":"TIMEOUT"} (the test counts the futex_waitv calls that took)
 *   wait_any NAME...   joins every ring (tethered, no spinning), prints {"joined":true}, then reads all of
 *       them with shmring_wait_any until every one has ended, checking every byte and the order of each
 *       ring's messages (byte i of message s is (7 s + i) & 0xff, as fence_stress and shmring_tool);
 *       prints {"done":true,"received":[...],"ended":[...],"waits":W,"invalid":[...]}
 *
 * The library is compiled in with the consumer's periodic producer check stretched to 10 minutes, so a
 * wake lost on any ring is a hang (the test's bound fails it), not a 100 ms hiccup.
 */
#define PRODUCER_CHECK_INTERVAL_MS 600000
#include "../../native/lib/shmring.c"

#define MAX_RINGS 8

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "idle") == 0) {
    shmring_consumer *idle[MAX_RINGS];
    size_t n = (size_t)argc - 3;
    if (n > MAX_RINGS) return 2;
    for (size_t i = 0; i < n; i++) {
      int status = shmring_consumer_open(argv[i + 3], NULL, &idle[i]);
      if (status != SHMRING_OK) return printf("{\"error\":\"%s\",\"where\":\"open\"}\n", shmring_strerror(status)), 1;
    }
    int result = shmring_wait_any(idle, n, 0, atoi(argv[2]));
    printf("{\"done\":true,\"result\":\"%s\"}\n", result >= 0 ? "READY" : shmring_strerror(result));
    for (size_t i = 0; i < n; i++) shmring_consumer_close(idle[i]);
    return 0;
  }
  size_t count = (size_t)argc - 1;
  if (count == 0 || count > MAX_RINGS) return 2;
  shmring_consumer *consumers[MAX_RINGS];
  shmring_consumer_options options;
  shmring_consumer_options_init(&options);
  options.spin_microseconds = 0;
  for (size_t i = 0; i < count; i++) {
    int status = shmring_consumer_open(argv[i + 1], &options, &consumers[i]);
    if (status != SHMRING_OK) return printf("{\"error\":\"%s\",\"where\":\"open %zu\"}\n", shmring_strerror(status), i), 1;
  }
  /* Misuse first: each is INVALID_ARGUMENT before anything is touched. */
  shmring_consumer *with_null[2] = {consumers[0], NULL};
  int invalid[3] = {shmring_wait_any(consumers, 0, 0, 0), shmring_wait_any(consumers, SHMRING_WAIT_ANY_MAX + 1, 0, 0),
                    shmring_wait_any(with_null, 2, 0, 0)};
  printf("{\"joined\":true}\n");
  fflush(stdout);
  uint64_t received[MAX_RINGS] = {0};
  int ended[MAX_RINGS] = {0};
  uint64_t waits = 0;
  size_t next_ring = 0; /* round robin: where the next wait starts looking */
  for (;;) {
    /* The rings still open (an ended consumer stays "ready": it is left out of later waits). */
    shmring_consumer *waiting[MAX_RINGS];
    size_t ring_of[MAX_RINGS], open_rings = 0;
    for (size_t i = 0; i < count; i++) {
      if (!ended[i]) ring_of[open_rings] = i, waiting[open_rings++] = consumers[i];
    }
    if (open_rings == 0) break;
    int ready = shmring_wait_any(waiting, open_rings, next_ring, 60000);
    waits++;
    if (ready < 0) return printf("{\"error\":\"%s\",\"where\":\"wait_any\"}\n", shmring_strerror(ready)), 1;
    size_t ring = ring_of[ready];
    next_ring = (size_t)ready + 1;
    for (;;) {
      shmring_record record;
      int status = shmring_read(consumers[ring], &record);
      if (status == SHMRING_EMPTY) break;
      if (status != SHMRING_OK) {
        ended[ring] = status;
        break;
      }
      const unsigned char *bytes = record.data;
      uint64_t s = received[ring];
      int intact = record.sequence == s;
      for (size_t b = 0; intact && b < record.length; b++) intact = bytes[b] == (unsigned char)((s * 7 + b) & 0xff);
      if (!intact) return printf("{\"error\":\"ring %zu message %llu damaged or out of order\"}\n", ring, (unsigned long long)s), 1;
      received[ring]++;
    }
  }
  size_t total = (size_t)argc - 1;
  printf("{\"done\":true,\"received\":[");
  for (size_t i = 0; i < total; i++) printf("%s%llu", i ? "," : "", (unsigned long long)received[i]);
  printf("],\"ended\":[");
  for (size_t i = 0; i < total; i++) printf("%s\"%s\"", i ? "," : "", shmring_strerror(ended[i]));
  printf("],\"waits\":%llu,\"invalid\":[\"%s\",\"%s\",\"%s\"]}\n", (unsigned long long)waits, shmring_strerror(invalid[0]),
         shmring_strerror(invalid[1]), shmring_strerror(invalid[2]));
  for (size_t i = 0; i < total; i++) shmring_consumer_close(consumers[i]);
  return 0;
}
