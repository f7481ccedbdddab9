/*
 * A C consumer of a ring a Node producer writes objects to (producer.send({...})): each MESSAGE record is
 * MessagePack, decoded here with msgpack-c (Debian: libmsgpack-dev; link with -lmsgpackc) and printed as
 * one JSON line. shmring's typed-array extensions (0x11..0x1a, little-endian elements) print as arrays,
 * MessagePack timestamps (Date) as {"date": milliseconds}.
 *
 *   msgpack_reader NAME        joins at the next message (tethered), prints {"ready":true}, reads until END
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "shmring.h"

static void print_string(const char *bytes, uint32_t length) {
  putchar('"');
  for (uint32_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)bytes[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

/* A typed array from shmring's extension types: element type by extension code, little-endian bytes. */
static void print_typed_array(int8_t type, const char *bytes, uint32_t length) {
  static const unsigned sizes[] = {1, 1, 2, 2, 4, 4, 4, 8, 8, 8}; /* 0x11 Int8 .. 0x1a BigUint64 */
  unsigned size = sizes[type - 0x11];
  putchar('[');
  for (uint32_t at = 0; at + size <= length; at += size) {
    if (at > 0) putchar(',');
    const char *e = bytes + at;
    switch (type) {
      case 0x11: printf("%d", (int8_t)e[0]); break;
      case 0x12: printf("%u", (uint8_t)e[0]); break;
      case 0x13: { int16_t v; memcpy(&v, e, 2); printf("%d", v); break; }
      case 0x14: { uint16_t v; memcpy(&v, e, 2); printf("%u", v); break; }
      case 0x15: { int32_t v; memcpy(&v, e, 4); printf("%" PRId32, v); break; }
      case 0x16: { uint32_t v; memcpy(&v, e, 4); printf("%" PRIu32, v); break; }
      case 0x17: { float v; memcpy(&v, e, 4); printf("%.9g", v); break; }
      case 0x18: { double v; memcpy(&v, e, 8); printf("%.17g", v); break; }
      case 0x19: { int64_t v; memcpy(&v, e, 8); printf("%" PRId64, v); break; }
      default: { uint64_t v; memcpy(&v, e, 8); printf("%" PRIu64, v); break; }
    }
  }
  putchar(']');
}

static void print_json(const msgpack_object *o) {
  switch (o->type) {
    case MSGPACK_OBJECT_NIL: printf("null"); break;
    case MSGPACK_OBJECT_BOOLEAN: printf(o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: printf("%" PRIu64, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf("%" PRId64, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: printf("%.17g", o->via.f64); break;
    case MSGPACK_OBJECT_STR: print_string(o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN: printf("{\"bytes\":%u}", o->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
      putchar('[');
      for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (i > 0) putchar(',');
        print_json(&o->via.array.ptr[i]);
      }
      putchar(']');
      break;
    case MSGPACK_OBJECT_MAP:
      putchar('{');
      for (uint32_t i = 0; i < o->via.map.size; i++) {
        if (i > 0) putchar(',');
        const msgpack_object *key = &o->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR) print_string(key->via.str.ptr, key->via.str.size);
        else printf("\"?\"");
        putchar(':');
        print_json(&o->via.map.ptr[i].val);
      }
      putchar('}');
      break;
    case MSGPACK_OBJECT_EXT: {
      msgpack_timestamp when;
      if (o->via.ext.type >= 0x11 && o->via.ext.type <= 0x1a) {
        print_typed_array(o->via.ext.type, o->via.ext.ptr, o->via.ext.size);
      } else if (msgpack_object_to_timestamp(o, &when)) {
        printf("{\"date\":%" PRId64 "}", when.tv_sec * 1000 + when.tv_nsec / 1000000);
      } else {
        printf("{\"ext\":%d,\"bytes\":%u}", o->via.ext.type, o->via.ext.size);
      }
      break;
    }
    default: printf("null"); break;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: msgpack_reader NAME\n");
    return 2;
  }
  shmring_consumer *consumer;
  int status = shmring_consumer_open(argv[1], NULL, &consumer);
  if (status != SHMRING_OK) {
    fprintf(stderr, "cannot join %s: %s\n", argv[1], shmring_strerror(status));
    return 1;
  }
  printf("{\"ready\":true}\n");
  fflush(stdout);
  msgpack_unpacked unpacked;
  msgpack_unpacked_init(&unpacked);
  for (;;) {
    shmring_record record;
    status = shmring_read(consumer, &record);
    if (status == SHMRING_EMPTY) {
      status = shmring_wait(consumer, 10000);
      if (status == SHMRING_OK) continue;
    }
    if (status != SHMRING_OK) break;
    if (record.type != SHMRING_RECORD_MESSAGE) continue;
    size_t offset = 0;
    /* The record is a view into the ring: decode it in place, before the next read. */
    if (msgpack_unpack_next(&unpacked, record.data, record.length, &offset) != MSGPACK_UNPACK_SUCCESS) {
      printf("{\"undecodable\":%" PRIu64 "}\n", record.sequence);
      continue;
    }
    print_json(&unpacked.data);
    putchar('\n');
    fflush(stdout);
  }
  msgpack_unpacked_destroy(&unpacked);
  printf("{\"end\":\"%s\"}\n", shmring_strerror(status));
  shmring_consumer_close(consumer);
  return status == SHMRING_END ? 0 : 1;
}
