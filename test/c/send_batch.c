/*
 * shmring_send_batch (run by test/c/send-batch.test.ts): arguments checked before anything is written, a
 * batch larger than the room left is sent in part (the count says how much) and everything sent is
 * published, in order, with its sequence numbers; the rest goes in the next call.
 *
 *   send_batch NAME   prints one JSON line; exit status 0 when every check passed
 */
#include <stdio.h>
#include <string.h>

#include "shmring.h"

#define COUNT 300
#define LENGTH 16 /* 32-byte records: 128 to a 4 KiB ring */

static int failures;
static void expect(int ok, const char *what) {
  if (!ok) {
    failures++;
    fprintf(stderr, "failed: %s\n", what);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = 4096;
  shmring_producer *producer;
  if (shmring_producer_create(argv[1], &options, &producer) != SHMRING_OK) return 1;
  shmring_consumer *consumer; /* tethered: it holds the ring full */
  if (shmring_consumer_open(argv[1], NULL, &consumer) != SHMRING_OK) return 1;

  static unsigned char bytes[COUNT][LENGTH];
  const void *payloads[COUNT];
  size_t lengths[COUNT];
  for (int i = 0; i < COUNT; i++) {
    memset(bytes[i], i & 0xff, LENGTH);
    payloads[i] = bytes[i];
    lengths[i] = LENGTH;
  }
  shmring_record record;
  /* Misuse and a payload too large: an error, and nothing of the batch written. */
  size_t too_large[2] = {LENGTH, shmring_producer_max_message_length(producer) + 1};
  expect(shmring_send_batch(producer, SHMRING_RECORD_BYTES, payloads, too_large, 2) == SHMRING_ERR_MESSAGE_TOO_LARGE, "too large");
  expect(shmring_send_batch(producer, 99, payloads, lengths, 2) == SHMRING_ERR_INVALID_ARGUMENT, "bad type");
  expect(shmring_send_batch(producer, SHMRING_RECORD_BYTES, NULL, lengths, 2) == SHMRING_ERR_INVALID_ARGUMENT, "no payloads");
  expect(shmring_send_batch(producer, SHMRING_RECORD_BYTES, payloads, lengths, 0) == 0, "empty batch");
  expect(shmring_read(consumer, &record) == SHMRING_EMPTY, "nothing written by the failed batches");

  /* More than the ring holds: part of it, all published. */
  int first = shmring_send_batch(producer, SHMRING_RECORD_BYTES, payloads, lengths, COUNT);
  expect(first == 4096 / 32, "a full ring's worth sent");
  int received = 0, in_order = 1;
  int sent = first > 0 ? first : 0;
  while (received < COUNT) {
    int status = shmring_read(consumer, &record);
    if (status == SHMRING_EMPTY) {
      if (sent >= COUNT) break;
      int more = shmring_send_batch(producer, SHMRING_RECORD_BYTES, payloads + sent, lengths + sent, (size_t)(COUNT - sent));
      if (more <= 0) break;
      sent += more;
      continue;
    }
    if (status != SHMRING_OK) break;
    const unsigned char *data = record.data;
    if (record.sequence != (uint64_t)received || record.length != LENGTH || data[0] != (received & 0xff)) in_order = 0;
    received++;
  }
  expect(sent == COUNT && received == COUNT && in_order, "everything, in order, once");
  expect(shmring_producer_next_sequence(producer) == COUNT, "sequence numbers");
  printf("{\"done\":true,\"ok\":%s,\"first\":%d,\"sent\":%d,\"received\":%d,\"inOrder\":%s}\n", failures ? "false" : "true",
         first, sent, received, in_order ? "true" : "false");
  shmring_consumer_close(consumer);
  shmring_producer_close(producer, 1);
  return failures ? 1 : 0;
}
