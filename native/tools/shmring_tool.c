/*
 * shmring_tool: a C producer or consumer of a ring, printing JSON lines; used by the conformance tests
 * (test/c/) and handy by hand.
 *
 *   shmring_tool send NAME [key=value...]   capacity, max_message, count, lengths=a,b,..., mode=send|wait|claim|batch
 *                                            (batch: shmring_send_batch of up to 16 messages, retried while full),
 *                                            close=end|abort|none, unlink=0|1, wipe=0|1, start=now|signal (SIGUSR2)|stdin,
 *                                            hang_after=N (then claim, write half, print inClaim and spin)
 *                                            start=stdin: each line N on stdin sends N more messages (then
 *                                            prints {"sent":total}); end of input closes
 *   shmring_tool recv NAME [key=value...]   tethered=0|1, from=next|oldest, count=N, timeout_ms, restart_ms, foreign=0|1,
 *                                            slow_us (sleep after each message), poll=0|1
 *
 * Payload of the message with sequence s and length n: byte i is (7 s + i) & 0xff, so a receiver checks
 * every byte against the record's sequence number, whichever language produced it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#define BATCH 16

static const char *option(int argc, char **argv, const char *key, const char *fallback) {
  size_t length = strlen(key);
  for (int i = 3; i < argc; i++) {
    if (strncmp(argv[i], key, length) == 0 && argv[i][length] == '=') return argv[i] + length + 1;
  }
  return fallback;
}

static long long number(int argc, char **argv, const char *key, long long fallback) {
  const char *value = option(argc, argv, key, NULL);
  return value == NULL ? fallback : strtoll(value, NULL, 10);
}

static void fill(unsigned char *bytes, size_t length, uint64_t sequence) {
  for (size_t i = 0; i < length; i++) bytes[i] = (unsigned char)((sequence * 7 + i) & 0xff);
}

static int check(const unsigned char *bytes, size_t length, uint64_t sequence) {
  for (size_t i = 0; i < length; i++) {
    if (bytes[i] != (unsigned char)((sequence * 7 + i) & 0xff)) return 0;
  }
  return 1;
}

static int fail(const char *what, int status) {
  printf("{\"error\":\"%s\",\"where\":\"%s\"}\n", shmring_strerror(status), what);
  fflush(stdout);
  return 1;
}

static int run_send(int argc, char **argv) {
  const char *name = argv[2];
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = (uint32_t)number(argc, argv, "capacity", 1 << 16);
  options.max_message_length = (uint32_t)number(argc, argv, "max_message", 0);
  options.max_consumers = 8;
  options.liveness_interval_ms = 50;
  options.wipe_on_close = (int)number(argc, argv, "wipe", 0);
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigprocmask(SIG_BLOCK, &usr2, NULL);
  shmring_producer *producer;
  int status = shmring_producer_create(name, &options, &producer);
  if (status != SHMRING_OK) return fail("create", status);
  uint32_t max = shmring_producer_max_message_length(producer);
  long long count = number(argc, argv, "count", 1000);
  long long hang_after = number(argc, argv, "hang_after", -1);
  const char *mode = option(argc, argv, "mode", "wait");
  const char *lengths_text = option(argc, argv, "lengths", "0,1,15,16,17,100");
  uint32_t lengths[64];
  int n_lengths = 0;
  for (const char *p = lengths_text; *p != 0 && n_lengths < 64;) {
    lengths[n_lengths++] = strncmp(p, "max", 3) == 0 ? max : (uint32_t)strtoul(p, NULL, 10);
    const char *comma = strchr(p, ',');
    if (comma == NULL) break;
    p = comma + 1;
  }
  printf("{\"ready\":true,\"pid\":%d,\"tookOver\":%s,\"next\":%llu,\"max\":%u}\n", (int)getpid(),
         shmring_producer_took_over(producer) ? "true" : "false",
         (unsigned long long)shmring_producer_next_sequence(producer), max);
  fflush(stdout);
  if (strcmp(option(argc, argv, "start", "now"), "signal") == 0) {
    int signal_number;
    sigwait(&usr2, &signal_number);
  }
  unsigned char *buffer = malloc(BATCH * (size_t)(max ? max : 1));
  long long sent = 0;
  int from_stdin = strcmp(option(argc, argv, "start", "now"), "stdin") == 0;
  char line[64];
  if (from_stdin) count = 0;
next_batch:
  if (from_stdin) {
    if (fgets(line, sizeof line, stdin) == NULL) goto sent_all;
    count += strtoll(line, NULL, 10);
  }
  for (; sent < count; sent++) {
    uint64_t sequence = shmring_producer_next_sequence(producer);
    uint32_t length = lengths[(size_t)(sequence % (uint64_t)n_lengths)];
    if (length > max) length = max;
    if (sent == hang_after) {
      void *payload;
      while ((status = shmring_claim(producer, SHMRING_RECORD_BYTES, length, &payload)) == SHMRING_FULL) usleep(100);
      if (status != SHMRING_OK) return fail("claim", status);
      fill(payload, length / 2, sequence);
      printf("{\"inClaim\":%llu}\n", (unsigned long long)sequence);
      fflush(stdout);
      for (;;) pause(); /* killed here, the claim open and half written */
    }
    if (strcmp(mode, "batch") == 0 && sent != hang_after) {
      /* Up to BATCH messages in one call (none past hang_after); what the full ring refused is sent again. */
      const void *payloads[BATCH];
      size_t sizes[BATCH];
      long long n = count - sent < BATCH ? count - sent : BATCH;
      if (hang_after > sent && hang_after - sent < n) n = hang_after - sent;
      for (long long i = 0; i < n; i++) {
        sizes[i] = lengths[(size_t)((sequence + (uint64_t)i) % (uint64_t)n_lengths)];
        if (sizes[i] > max) sizes[i] = max;
        fill(buffer + (size_t)i * max, sizes[i], sequence + (uint64_t)i);
        payloads[i] = buffer + (size_t)i * max;
      }
      for (long long done = 0; done < n;) {
        int got = shmring_send_batch(producer, SHMRING_RECORD_BYTES, payloads + done, sizes + done, (size_t)(n - done));
        if (got < 0) return fail("send_batch", got);
        done += got;
        if (done < n) usleep(50);
      }
      sent += n - 1;
      continue;
    }
    if (strcmp(mode, "claim") == 0) {
      void *payload;
      while ((status = shmring_claim(producer, SHMRING_RECORD_BYTES, length, &payload)) == SHMRING_FULL) usleep(50);
      if (status != SHMRING_OK) return fail("claim", status);
      fill(payload, length, sequence);
      status = shmring_commit(producer, length);
    } else {
      fill(buffer, length, sequence);
      if (strcmp(mode, "send") == 0) {
        status = shmring_send(producer, SHMRING_RECORD_BYTES, buffer, length);
        if (status == SHMRING_FULL) continue; /* a lossy source drops; untethered peers never fill it */
      } else {
        status = shmring_send_wait(producer, SHMRING_RECORD_BYTES, buffer, length, 30000);
      }
    }
    if (status != SHMRING_OK) return fail("send", status);
  }
  if (from_stdin) {
    printf("{\"sent\":%lld}\n", sent);
    fflush(stdout);
    goto next_batch;
  }
sent_all:
  free(buffer);
  printf("{\"sent\":%lld,\"next\":%llu}\n", sent, (unsigned long long)shmring_producer_next_sequence(producer));
  fflush(stdout);
  const char *close_mode = option(argc, argv, "close", "end");
  int unlink_name = (int)number(argc, argv, "unlink", 0);
  if (strcmp(close_mode, "abort") == 0) status = shmring_producer_abort(producer, "source failed: \"disk\"", "E_DISK", unlink_name);
  else if (strcmp(close_mode, "end") == 0) status = shmring_producer_close(producer, unlink_name);
  else _exit(0); /* close=none: leave the ring as a dead producer would */
  printf("{\"closed\":true}\n");
  return status == SHMRING_OK ? 0 : 1;
}

typedef struct tally {
  long long received, bad, dups, gaps, slow_us, count;
  unsigned long long first, last, expected;
  int started;
} tally;

static int on_record(void *ctx, const shmring_record *record) {
  tally *t = ctx;
  if (!check(record->data, record->length, record->sequence)) t->bad++;
  if (t->started && record->sequence < t->expected) t->dups++;
  if (t->started && record->sequence > t->expected) {
    /* A damaged ring can carry any sequence: saturate rather than overflow the count. */
    unsigned long long gap = record->sequence - t->expected;
    t->gaps = gap > (unsigned long long)(LLONG_MAX - t->gaps) ? LLONG_MAX : t->gaps + (long long)gap;
  }
  if (!t->started) t->first = record->sequence;
  t->started = 1;
  t->expected = record->sequence + 1;
  t->last = record->sequence;
  t->received++;
  if (t->slow_us > 0) usleep((useconds_t)t->slow_us);
  return t->count > 0 && t->received >= t->count;
}

static int run_recv(int argc, char **argv) {
  const char *name = argv[2];
  shmring_consumer_options options;
  shmring_consumer_options_init(&options);
  options.tethered = (int)number(argc, argv, "tethered", 1);
  options.from_oldest = strcmp(option(argc, argv, "from", "next"), "oldest") == 0;
  options.wait_for_restart_ms = (uint32_t)number(argc, argv, "restart_ms", 0);
  options.allow_foreign_owner = (int)number(argc, argv, "foreign", 0);
  shmring_consumer *consumer;
  int status = shmring_consumer_open(name, &options, &consumer);
  if (status != SHMRING_OK) return fail("open", status);
  printf("{\"ready\":true,\"pid\":%d,\"readOnly\":%s}\n", (int)getpid(), shmring_consumer_read_only(consumer) ? "true" : "false");
  fflush(stdout);
  tally t = {0};
  t.slow_us = number(argc, argv, "slow_us", 0);
  t.count = number(argc, argv, "count", 0);
  int timeout_ms = (int)number(argc, argv, "timeout_ms", 20000);
  int use_poll = (int)number(argc, argv, "poll", 1);
  for (;;) {
    if (t.count > 0 && t.received >= t.count) {
      status = SHMRING_OK;
      break;
    }
    if (use_poll) {
      status = shmring_poll(consumer, on_record, &t, 0);
      if (status > 0) continue;
      if (status == 0 && shmring_ended(consumer)) status = shmring_ended(consumer);
    } else {
      shmring_record record;
      status = shmring_read(consumer, &record);
      if (status == SHMRING_OK) {
        on_record(&t, &record);
        continue;
      }
      if (status == SHMRING_EMPTY) status = 0;
    }
    if (status != 0) break;
    status = shmring_wait(consumer, timeout_ms);
    if (status != SHMRING_OK) break;
  }
  // The abort reason is JSON from the ring; an abort known only from the state word (its record damaged
  // or never written) has none: then null, so the line stays JSON.
  const char *reason = status == SHMRING_ERR_PRODUCER_ABORTED ? shmring_abort_reason(consumer) : NULL;
  const char *abort_json = status != SHMRING_ERR_PRODUCER_ABORTED ? "\"\"" : (reason != NULL && reason[0] != '\0' ? reason : "null");
  printf("{\"done\":true,\"status\":\"%s\",\"received\":%lld,\"lost\":%llu,\"first\":%llu,\"last\":%llu,\"gaps\":%lld,"
         "\"dups\":%lld,\"bad\":%lld,\"abort\":%s}\n",
         shmring_strerror(status), t.received, (unsigned long long)shmring_consumer_lost(consumer), t.first, t.last,
         t.gaps, t.dups, t.bad, abort_json);
  fflush(stdout);
  shmring_consumer_close(consumer);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 3) {
    fprintf(stderr, "usage: shmring_tool send|recv NAME [key=value...]\n");
    return 2;
  }
  if (strcmp(argv[1], "send") == 0) return run_send(argc, argv);
  if (strcmp(argv[1], "recv") == 0) return run_recv(argc, argv);
  fprintf(stderr, "unknown command %s\n", argv[1]);
  return 2;
}
