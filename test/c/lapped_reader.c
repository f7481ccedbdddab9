/*
 * Regression for issue 16's lap bug, C side (run by test/c/lapped-reader.test.ts): an untethered C reader
 * that a C producer laps at every step of one read. The library is compiled into this program with its
 * resync seam (SHMRING_TEST_AFTER_RESYNC) making the producer write two more laps right after each
 * resync, so the reader is lapped again at its next step, every step, deterministically. Before the fix
 * the read gave up with CORRUPT_SEGMENT once its bound on resyncs was used up (and the consumer stayed
 * failed); now it returns EMPTY for that call and reads on, loss counted exactly.
 *
 *   lapped_reader NAME   prints one JSON line; exit status 0 when every check passed
 */
static void strike(void);
#define SHMRING_TEST_AFTER_RESYNC(consumer) strike()
#include "../../native/lib/shmring.c"

#define CAPACITY 16384u
#define MAX_MESSAGE (CAPACITY / 2 - 16)

static const uint32_t LENGTHS[3] = {100, 200, MAX_MESSAGE};
static shmring_producer *producer;
static uint64_t sent;
static int strikes_left;
static int strikes;
static unsigned char buffer[MAX_MESSAGE];

/* Message n: its first 8 bytes are n, every other byte n & 255 (a torn copy shows). */
static int send_messages(int count) {
  for (int i = 0; i < count; i++, sent++) {
    uint32_t length = LENGTHS[sent % 3];
    memset(buffer, (int)(sent & 0xff), length);
    memcpy(buffer, &sent, sizeof sent);
    int status = shmring_send(producer, SHMRING_RECORD_BYTES, buffer, length);
    if (status != SHMRING_OK) return status;
  }
  return SHMRING_OK;
}

static void strike(void) {
  if (strikes_left <= 0) return;
  strikes_left--;
  strikes++;
  send_messages(6); /* two laps of this ring's periodic layout */
}

static int whole(const shmring_record *record) {
  uint64_t n;
  if (record->length < sizeof n) return 0;
  memcpy(&n, record->data, sizeof n);
  if (n != record->sequence || record->length != LENGTHS[n % 3]) return 0;
  for (uint32_t i = sizeof n; i < record->length; i++) {
    if (((const unsigned char *)record->data)[i] != (unsigned char)(n & 0xff)) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  shmring_producer_options options;
  shmring_producer_options_init(&options);
  options.capacity = CAPACITY;
  options.max_message_length = MAX_MESSAGE;
  options.max_consumers = 2;
  int status = shmring_producer_create(argv[1], &options, &producer);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"create\"}\n", shmring_strerror(status));
    return 1;
  }
  shmring_consumer_options consumer_options;
  shmring_consumer_options_init(&consumer_options);
  consumer_options.tethered = 0;
  shmring_consumer *consumer;
  status = shmring_consumer_open(argv[1], &consumer_options, &consumer);
  if (status != SHMRING_OK) {
    printf("{\"error\":\"%s\",\"where\":\"open\"}\n", shmring_strerror(status));
    return 1;
  }
  int ok = send_messages(11) == SHMRING_OK; /* lapped before its first read */
  shmring_record record;
  strikes_left = 64;
  int first = shmring_read(consumer, &record);
  strikes_left = 0;
  /* Then at a normal pace: a reader lapped this often has jumped to the tail and reads what follows. */
  uint64_t delivered = 0, last = 0, bad = 0, disorder = 0;
  int later = SHMRING_OK;
  for (int round = 0; round < 3 && ok; round++) {
    ok = send_messages(1) == SHMRING_OK;
    while ((later = shmring_read(consumer, &record)) == SHMRING_OK) {
      if (!whole(&record)) bad++;
      if (delivered > 0 && record.sequence <= last) disorder++;
      last = record.sequence;
      delivered++;
    }
  }
  uint64_t lost = shmring_consumer_lost(consumer), received = shmring_consumer_received(consumer);
  ok = ok && first == SHMRING_EMPTY && later == SHMRING_EMPTY && strikes > MAX_SKIPS_PER_READ + 2 * MAX_RESYNCS &&
       delivered > 0 && bad == 0 && disorder == 0 && last == sent - 1 && received + lost == sent;
  printf("{\"done\":true,\"ok\":%s,\"first\":\"%s\",\"later\":\"%s\",\"strikes\":%d,\"sent\":%llu,\"delivered\":%llu,\"last\":%llu,"
         "\"received\":%llu,\"lost\":%llu,\"bad\":%llu,\"disorder\":%llu}\n",
         ok ? "true" : "false", shmring_strerror(first), shmring_strerror(later), strikes, (unsigned long long)sent,
         (unsigned long long)delivered, (unsigned long long)last, (unsigned long long)received,
         (unsigned long long)lost, (unsigned long long)bad, (unsigned long long)disorder);
  shmring_consumer_close(consumer);
  shmring_producer_close(producer, 1);
  return ok ? 0 : 1;
}
