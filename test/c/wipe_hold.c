/*
 * A tethered C consumer that holds a record across its producer's wipe (run by test/c/wipe.test.ts).
 *
 *   wipe_hold NAME   joins (tethered), prints {"joined":true}, reads one message and prints {"read":LENGTH},
 *                    waits for a line on stdin (the test sends it once the producer has closed and wiped),
 *                    then checks the held record (byte i of message s is (7 s + i) & 0xff, as
 *                    shmring_tool) and reads on to the end: {"done":true,"damaged":D,"received":R,"lost":L,"end":E}
 *
 * A record is valid until the next read on its consumer (docs/c-api.md): on a ring whose producer will
 * wipe it on close, that is only true because such records are copies (FLAG_WIPE_ON_CLOSE).
 */
#include <stdio.h>
#include "shmring.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  shmring_consumer *c;
  int status = shmring_consumer_open(argv[1], NULL, &c);
  if (status != SHMRING_OK) return printf("{\"error\":\"%s\",\"where\":\"open\"}\n", shmring_strerror(status)), 1;
  printf("{\"joined\":true}\n");
  fflush(stdout);
  shmring_record held;
  while ((status = shmring_read(c, &held)) == SHMRING_EMPTY) shmring_wait(c, 1000);
  if (status != SHMRING_OK) return printf("{\"error\":\"%s\",\"where\":\"read\"}\n", shmring_strerror(status)), 1;
  printf("{\"read\":%u}\n", held.length);
  fflush(stdout);
  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  int damaged = 0;
  const unsigned char *bytes = held.data;
  for (uint32_t i = 0; i < held.length; i++) damaged += bytes[i] != (unsigned char)((held.sequence * 7 + i) & 0xff);
  shmring_record record;
  while ((status = shmring_read(c, &record)) == SHMRING_OK) {
  }
  printf("{\"done\":true,\"damaged\":%d,\"received\":%llu,\"lost\":%llu,\"end\":\"%s\"}\n", damaged,
         (unsigned long long)shmring_consumer_received(c), (unsigned long long)shmring_consumer_lost(c), shmring_strerror(status));
  shmring_consumer_close(c);
  return 0;
}
