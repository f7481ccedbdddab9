/*
 * The signal chain's source stage in C (examples/signal/README.md): 48 kHz audio in 1024-sample Float32
 * frames, each computed in place in the ring with shmring_claim/shmring_commit (no copy, no encoding),
 * paced at real time x SPEED. Interchangeable with source.js: the Node processing stage reads its frames.
 *
 *   signal_source NAME [SPEED]     starts sending on SIGUSR2; SIGINT/SIGTERM close the ring (END) and exit
 *
 * Frame payload: 4 x uint32 header (frame index, sample rate, channel count, reserved) + 1024 float32.
 * Prints JSON lines for run.js: {"role":"source","ready":true} and {"role":"source","frames":N,"closed":true}.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmring.h"

#define SAMPLE_RATE 48000
#define FRAME_SAMPLES 1024
#define HEADER_WORDS 4

static volatile sig_atomic_t started = 0;
static volatile sig_atomic_t stopping = 0;

static void on_start(int signal_number) { (void)signal_number; started = 1; }
static void on_stop(int signal_number) { (void)signal_number; stopping = 1; }

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Writes frame `frame` straight into the ring; 0 when the ring is full (a real-time source skips it). */
static int write_frame(shmring_producer *producer, uint32_t frame) {
  void *payload;
  size_t length = (HEADER_WORDS + FRAME_SAMPLES) * sizeof(float);
  if (shmring_claim(producer, SHMRING_RECORD_BYTES, length, &payload) != SHMRING_OK) return 0;
  uint32_t *header = payload; /* payloads are 16-byte aligned: uint32 and float views are fine */
  header[0] = frame;
  header[1] = SAMPLE_RATE;
  header[2] = 1;
  header[3] = 0;
  float *samples = (float *)payload + HEADER_WORDS;
  double start = (double)frame * FRAME_SAMPLES;
  double envelope = 0.5 + 0.45 * sin(2 * M_PI * frame / 200.0);
  for (int i = 0; i < FRAME_SAMPLES; i++) samples[i] = (float)(envelope * sin(2 * M_PI * 440 * (start + i) / SAMPLE_RATE));
  return shmring_commit(producer, length) == SHMRING_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: signal_source NAME [SPEED]\n");
    return 2;
  }
  double speed = argc > 2 ? atof(argv[2]) : 1.0;
  if (!(speed > 0)) speed = 1.0;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_start;
  sigaction(SIGUSR2, &action, NULL);
  action.sa_handler = on_stop;
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);

  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = 1u << 20;
  shmring_producer *producer;
  int status = shmring_producer_create(argv[1], &options, &producer);
  if (status != SHMRING_OK) {
    fprintf(stderr, "source: cannot create %s: %s\n", argv[1], shmring_strerror(status));
    return 1;
  }
  printf("{\"role\":\"source\",\"ready\":true}\n");
  fflush(stdout);
  const struct timespec tick = {0, 5 * 1000000L};
  while (!started && !stopping) nanosleep(&tick, NULL);
  struct timespec begin;
  clock_gettime(CLOCK_MONOTONIC, &begin);
  uint32_t frame = 0;
  while (!stopping) {
    /* Real-time pacing: as many frames as the clock says are due (catch up in a burst). */
    double due = floor(seconds_since(&begin) * ((double)SAMPLE_RATE / FRAME_SAMPLES) * speed);
    while (!stopping && frame < due) {
      write_frame(producer, frame);
      frame++;
    }
    nanosleep(&tick, NULL);
  }
  shmring_producer_close(producer, 1); /* END after the last frame; unlinks the name */
  printf("{\"role\":\"source\",\"frames\":%u,\"closed\":true}\n", frame);
  return 0;
}
