/*
 * The trailing wake of the C producer (run by test/c/trailing-wake.test.ts): a publish whose exchange of DATA_WAITERS took a sleeper's announcement
 * makes the next publish wake too, announced or not (docs/protocol.md, "Sleeping and waking").
 *
 * The interleaving it guards against: the producer stores tail T1; a consumer reads up to T1, announces
 * (DATA_WAITERS = 1), sees T1 and goes to sleep on T1; the producer's exchange then takes the announcement
 * and wakes before the sleeper is in the kernel (a wake to nobody). Without the rule the publish of T2
 * finds the flag spent, wakes nobody, and the consumer sleeps through T2. Here the announcement is made
 * just before the first send, which is what the producer sees in that interleaving; the library is
 * compiled in so the test reads its wake counter.
 *
 * A producer that takes over a ring owes its predecessor's trailing wake (the predecessor may have spent an
 * announcement and died before its next publish): its first publish wakes, announced or not.
 *
 *   trailing_wake NAME            prints one JSON line; exit status 0 when every check passed
 *   trailing_wake NAME takeover   a child creates the ring and dies without closing; we take it over and
 *                                 count the wakes of our first two publishes (1, then 0)
 */
#include "../../native/lib/shmring.c"

#include <sys/wait.h>

static int takeover(const char *name) {
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = 4096;
  pid_t child = fork();
  if (child == 0) {
    shmring_producer *first;
    _exit(shmring_producer_create(name, &options, &first) == SHMRING_OK ? 0 : 1); /* dies holding the ring */
  }
  int child_status = 0;
  if (child < 0 || waitpid(child, &child_status, 0) != child || child_status != 0) {
    printf("{\"error\":\"the first producer failed\",\"where\":\"fork\"}\n");
    return 1;
  }
  shmring_producer *producer;
  int status = shmring_producer_create(name, &options, &producer);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"takeover\"}\n", shmring_strerror(status));
    return 1;
  }
  const char message[8] = "message";
  double wakes[3];
  wakes[0] = producer->wakes_sent;
  int sent = shmring_send(producer, SHMRING_RECORD_BYTES, message, sizeof message) == SHMRING_OK; /* nobody announced */
  wakes[1] = producer->wakes_sent;
  sent += shmring_send(producer, SHMRING_RECORD_BYTES, message, sizeof message) == SHMRING_OK;
  wakes[2] = producer->wakes_sent;
  int ok = shmring_producer_took_over(producer) && sent == 2 && wakes[1] - wakes[0] == 1 && wakes[2] - wakes[1] == 0;
  printf("{\"done\":true,\"ok\":%s,\"tookOver\":%d,\"sent\":%d,\"wakes\":[%g,%g]}\n", ok ? "true" : "false",
         shmring_producer_took_over(producer), sent, wakes[1] - wakes[0], wakes[2] - wakes[1]);
  shmring_producer_close(producer, 1);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[2], "takeover") == 0) return takeover(argv[1]);
  if (argc != 2) return 2;
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = 4096;
  shmring_producer *producer;
  int status = shmring_producer_create(argv[1], &options, &producer);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"create\"}\n", shmring_strerror(status));
    return 1;
  }
  uint32_t *waiters = WORD(CONSUMER(&producer->m, SHMRING_DATA_WAITERS_OFFSET), 0);
  const char message[8] = "message";
  double wakes[4];
  wakes[0] = producer->wakes_sent;
  __atomic_store_n(waiters, 1, __ATOMIC_SEQ_CST); /* the announcement the first publish takes */
  int sent = shmring_send(producer, SHMRING_RECORD_BYTES, message, sizeof message) == SHMRING_OK;
  wakes[1] = producer->wakes_sent;
  sent += shmring_send(producer, SHMRING_RECORD_BYTES, message, sizeof message) == SHMRING_OK; /* nobody announced */
  wakes[2] = producer->wakes_sent;
  sent += shmring_send(producer, SHMRING_RECORD_BYTES, message, sizeof message) == SHMRING_OK;
  wakes[3] = producer->wakes_sent;
  /* One wake for the announcement, one trailing wake, then none: at most two per sleep. */
  int ok = sent == 3 && wakes[1] - wakes[0] == 1 && wakes[2] - wakes[1] == 1 && wakes[3] - wakes[2] == 0 &&
           peekf64(producer->m.control, SHMRING_WAKES_SENT_OFFSET) == wakes[3];
  printf("{\"done\":true,\"ok\":%s,\"sent\":%d,\"wakes\":[%g,%g,%g]}\n", ok ? "true" : "false", sent, wakes[1] - wakes[0],
         wakes[2] - wakes[1], wakes[3] - wakes[2]);
  shmring_producer_close(producer, 1);
  return ok ? 0 : 1;
}
