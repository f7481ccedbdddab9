/*
 * The signal chain's processing stage in C (examples/signal/README.md): an untethered consumer of the
 * Float32 frames (from source.js or signal_source) that computes RMS and peak over each frame in place,
 * and republishes { frame, rms, peak, lost } as MessagePack (msgpack-c's packer) on a second ring, where
 * the Node sink decodes it like any object a Node producer sent. Interchangeable with process.js.
 *
 *   signal_stage FRAMES RESULTS    SIGINT/SIGTERM: process what is in the ring, then leave both rings
 *
 * Prints JSON lines for run.js: {"role":"process","ready":true}, {"role":"process","processed":N,"closed":true}.
 */
#define _GNU_SOURCE
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "shmring.h"

#define HEADER_WORDS 4

static volatile sig_atomic_t stopping = 0;
static void on_stop(int signal_number) { (void)signal_number; stopping = 1; }

typedef struct stage {
  shmring_consumer *frames;
  shmring_producer *results;
  msgpack_sbuffer buffer;
  msgpack_packer packer;
  unsigned long processed;
  int failed;
} stage;

static void pack_key(msgpack_packer *packer, const char *key) {
  msgpack_pack_str(packer, strlen(key));
  msgpack_pack_str_body(packer, key, strlen(key));
}

/* One frame: RMS and peak over the samples, read in place (a view into the ring), then one result. */
static int analyse(void *ctx, const shmring_record *record) {
  stage *s = ctx;
  if (record->length < HEADER_WORDS * sizeof(float)) return 0;
  const uint32_t *header = record->data;
  const float *samples = (const float *)record->data + HEADER_WORDS;
  size_t count = record->length / sizeof(float) - HEADER_WORDS;
  double sum_squares = 0, peak = 0;
  for (size_t i = 0; i < count; i++) {
    double sample = samples[i];
    sum_squares += sample * sample;
    if (fabs(sample) > peak) peak = fabs(sample);
  }
  s->processed++;
  msgpack_sbuffer_clear(&s->buffer);
  msgpack_pack_map(&s->packer, 4);
  pack_key(&s->packer, "frame");
  msgpack_pack_uint32(&s->packer, header[0]);
  pack_key(&s->packer, "rms");
  msgpack_pack_double(&s->packer, count ? sqrt(sum_squares / (double)count) : 0);
  pack_key(&s->packer, "peak");
  msgpack_pack_double(&s->packer, peak);
  pack_key(&s->packer, "lost");
  msgpack_pack_uint64(&s->packer, shmring_consumer_lost(s->frames));
  /* The sink is tethered: wait for it rather than drop a result. */
  int status = shmring_send_wait(s->results, SHMRING_RECORD_MESSAGE, s->buffer.data, s->buffer.size, 10000);
  if (status != SHMRING_OK) {
    fprintf(stderr, "process: sending a result: %s\n", shmring_strerror(status));
    s->failed = 1;
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: signal_stage FRAMES RESULTS\n");
    return 2;
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop;
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);

  stage s;
  memset(&s, 0, sizeof s);
  msgpack_sbuffer_init(&s.buffer);
  msgpack_packer_init(&s.packer, &s.buffer, msgpack_sbuffer_write);
  shmring_producer_options results_options;
  shmring_producer_options_init(&results_options);
  results_options.capacity = 1u << 16;
  int status = shmring_producer_create(argv[2], &results_options, &s.results);
  if (status != SHMRING_OK) {
    fprintf(stderr, "process: cannot create %s: %s\n", argv[2], shmring_strerror(status));
    return 1;
  }
  shmring_consumer_options frames_options;
  shmring_consumer_options_init(&frames_options);
  frames_options.tethered = 0; /* a real-time chain never holds its source back */
  status = shmring_consumer_open(argv[1], &frames_options, &s.frames);
  if (status != SHMRING_OK) {
    fprintf(stderr, "process: cannot open %s: %s\n", argv[1], shmring_strerror(status));
    shmring_producer_close(s.results, 1);
    return 1;
  }
  printf("{\"role\":\"process\",\"ready\":true}\n");
  fflush(stdout);
  int exit_code = 0;
  for (;;) {
    int delivered = shmring_poll(s.frames, analyse, &s, 0);
    if (s.failed || delivered < 0) {
      if (delivered < 0) fprintf(stderr, "process: %s\n", shmring_strerror(delivered));
      exit_code = 1;
      break;
    }
    if (delivered > 0) continue;
    if (stopping) break; /* everything in the ring now is processed: leave */
    status = shmring_wait(s.frames, 100);
    if (status == SHMRING_END) break;
    if (status != SHMRING_OK && status != SHMRING_ERR_TIMEOUT) {
      fprintf(stderr, "process: %s\n", shmring_strerror(status));
      exit_code = 1;
      break;
    }
  }
  shmring_consumer_close(s.frames);
  shmring_producer_close(s.results, 1); /* END: the sink ends after the last result */
  msgpack_sbuffer_destroy(&s.buffer);
  printf("{\"role\":\"process\",\"processed\":%lu,\"closed\":true}\n", s.processed);
  return exit_code;
}
