/*
 * shmring C client: a producer or a consumer of a shmring ring, speaking the protocol of docs/protocol.md
 * (layout version 2) exactly as the TypeScript side does, so C stages and Node stages share one pipeline.
 * C11 plus GCC/Clang __atomic builtins; Linux only; no dependency beyond libc. See docs/c-api.md.
 *
 * Threads: a producer or a consumer handle is used by one thread at a time (calls on one handle are not
 * synchronised); different handles are independent, also on the same ring. shmring_strerror is safe from
 * any thread.
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stddef.h>
#include <stdint.h>

#include "shmring_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Results. 0 and positive values are outcomes (not failures); negative values are errors, named as the
 * TypeScript side's ShmRingError codes where they mean the same thing. After SHMRING_ERR_SYSTEM_ERROR
 * (and the errno-based codes), errno holds the system error.
 */
typedef enum shmring_status {
  SHMRING_OK = 0,
  SHMRING_FULL = 1,   /* send/claim: tethered consumers hold the ring full (TypeScript: send() returns false) */
  SHMRING_EMPTY = 2,  /* read: nothing new yet */
  SHMRING_END = 3,    /* read/poll/wait: the producer closed the stream; everything before was delivered */

  SHMRING_ERR_SEGMENT_EXISTS = -1,
  SHMRING_ERR_SEGMENT_NOT_FOUND = -2,
  SHMRING_ERR_PERMISSION_DENIED = -3,
  SHMRING_ERR_NO_SPACE = -4,
  SHMRING_ERR_SEGMENT_TOO_SMALL = -5,
  SHMRING_ERR_LIMIT_EXCEEDED = -6,
  SHMRING_ERR_CLOSED = -7,
  SHMRING_ERR_SYSTEM_ERROR = -8,
  SHMRING_ERR_INCOMPATIBLE_VERSION = -9,
  SHMRING_ERR_CORRUPT_SEGMENT = -10,
  SHMRING_ERR_NOT_A_RING = -11,
  SHMRING_ERR_PRODUCER_ALIVE = -12,
  SHMRING_ERR_PRODUCER_DIED = -13,
  SHMRING_ERR_PRODUCER_ABORTED = -14,
  SHMRING_ERR_MESSAGE_TOO_LARGE = -15,
  SHMRING_ERR_NO_FREE_SLOT = -16,
  SHMRING_ERR_CONSUMER_EVICTED = -17,
  SHMRING_ERR_TIMEOUT = -18,
  SHMRING_ERR_INIT_TIMEOUT = -19,
  SHMRING_ERR_INVALID_ARGUMENT = -20, /* misuse: a NULL handle, a bad option (TypeScript: TypeError/RangeError) */
  SHMRING_ERR_OUT_OF_MEMORY = -21,
  SHMRING_ERR_FOREIGN_OWNER = -22, /* the segment belongs to another user (see allow_foreign_owner) */
  SHMRING_ERR_RING_REPLACED = -23, /* the producer died and the name now refers to another ring (or none) */
} shmring_status;

/* The code's name ("CORRUPT_SEGMENT", "FULL", ...), a static string; "UNKNOWN" for other values. */
const char *shmring_strerror(int status);

/* ----------------------------------------------------------------------------------------------- */
/* Producer                                                                                         */
/* ----------------------------------------------------------------------------------------------- */

typedef struct shmring_producer shmring_producer;

enum shmring_existing {
  SHMRING_EXISTING_TAKEOVER = 0, /* continue a dead producer's ring of the same geometry (default) */
  SHMRING_EXISTING_REPLACE = 1,  /* unlink a dead producer's ring and create a new one */
  SHMRING_EXISTING_FAIL = 2,     /* SHMRING_ERR_SEGMENT_EXISTS */
};

typedef struct shmring_producer_options {
  uint32_t capacity;            /* bytes of the data region, a power of two, 4 KiB..1 GiB. 0: 1 MiB */
  uint32_t max_consumers;       /* consumer slots, 1..1024. 0: 16 */
  uint32_t max_message_length;  /* largest payload, at most capacity/2 - 16. 0: capacity/4 - 16 */
  uint32_t mode;                /* permission bits of the segment (applied with fchmod). 0: 0600 */
  int gid;                      /* group of the segment (fchown), or -1 to keep the creator's. Default -1 */
  int existing;                 /* enum shmring_existing */
  uint32_t liveness_interval_ms;/* how often a full ring checks for dead tethered consumers. 0: 500 */
  int sequential_publish;       /* 1: publish with a full barrier, never asking consumers for membarrier
                                   (PRODUCER_PUBLISH_FENCE = FULL, as the TypeScript producer). Default 0:
                                   a release store, when the process could register for membarrier */
  int wipe_on_close;            /* 1: close/abort zero the data region (after giving tethered consumers up
                                   to 1 s to read what they were promised), so no message outlives the
                                   producer in memory; consumers count what they missed and end. Default 0 */
  uint32_t spin_microseconds;   /* shmring_send_wait on a full ring spins this long for space before it
                                   sleeps (a consumer frees a quarter ring at a time: sleeping costs a
                                   wake of tens of µs). 0: no spin. Default 50 */
} shmring_producer_options;

/* Fills `options` with the defaults. */
void shmring_producer_options_init(shmring_producer_options *options);

/*
 * Creates the ring `name` ("/telemetry") and becomes its producer, or takes over the ring of a producer
 * that died. Errors: INVALID_ARGUMENT, PRODUCER_ALIVE, SEGMENT_EXISTS, NOT_A_RING, PERMISSION_DENIED, FOREIGN_OWNER,
 * NO_SPACE, LIMIT_EXCEEDED, SYSTEM_ERROR, OUT_OF_MEMORY. `options` may be NULL.
 */
int shmring_producer_create(const char *name, const shmring_producer_options *options, shmring_producer **out);

/* 1 when create continued a dead producer's ring (positions and sequence numbers carried on). */
int shmring_producer_took_over(const shmring_producer *producer);
/* The sequence number the next message will carry. */
uint64_t shmring_producer_next_sequence(const shmring_producer *producer);
uint32_t shmring_producer_max_message_length(const shmring_producer *producer);

/*
 * Publishes one record: `type` SHMRING_RECORD_BYTES (raw) or SHMRING_RECORD_MESSAGE (MessagePack bytes
 * the caller encoded). Returns OK, FULL (tethered consumers hold the ring full: nothing was written),
 * MESSAGE_TOO_LARGE, INVALID_ARGUMENT (an open claim, another type), CLOSED.
 */
int shmring_send(shmring_producer *producer, uint32_t type, const void *bytes, size_t length);

/* shmring_send, sleeping for space (futex on SPACE_WAKE) up to `timeout_ms` (-1: forever): OK or TIMEOUT. */
int shmring_send_wait(shmring_producer *producer, uint32_t type, const void *bytes, size_t length, int timeout_ms);

/*
 * Sends `count` messages (payloads[i], lengths[i] bytes each) and publishes them together, as the
 * TypeScript sendBytesBatch: one publish and at most one wake for the batch (or one per quarter ring), so
 * its full barrier and wake check are paid once per batch instead of once per message. Returns how many
 * were sent (fewer than `count` when tethered consumers hold the ring full: the rest were not written;
 * everything sent is published), or a negative error before anything was sent (MESSAGE_TOO_LARGE for the
 * first too-large payload, INVALID_ARGUMENT, CLOSED).
 */
int shmring_send_batch(shmring_producer *producer, uint32_t type, const void *const *payloads, const size_t *lengths,
                       size_t count);

/*
 * Reserves a record of up to `length` payload bytes and points `*payload` at it, in the ring (16-byte
 * aligned: a float or double array over it works). Nothing is visible until shmring_commit. Returns OK,
 * FULL, MESSAGE_TOO_LARGE, INVALID_ARGUMENT (a claim already open), CLOSED.
 */
int shmring_claim(shmring_producer *producer, uint32_t type, size_t length, void **payload);
/* Publishes the claimed record with its first `used` bytes (used <= the claimed length). */
int shmring_commit(shmring_producer *producer, size_t used);
/* Gives the claimed record up: never published, overwritten by the next one. */
int shmring_claim_abort(shmring_producer *producer);

/*
 * Corked, commits are written but published together by shmring_flush (or whenever a quarter of the
 * ring is pending, or the ring would wrap onto them): one store and at most one wake per batch.
 */
void shmring_set_corked(shmring_producer *producer, int corked);
/* Publishes everything committed. Returns 1 when a sleeping consumer was woken, else 0. */
int shmring_flush(shmring_producer *producer);

/*
 * Ends the stream with an END record after everything sent, releases the producer lock, unlinks the
 * name when `unlink_name`, unmaps and frees the producer. Waits at most 100 ms for room for the END.
 */
int shmring_producer_close(shmring_producer *producer, int unlink_name);
/*
 * Like close, with an ABORT record instead: consumers read everything before it, then fail with
 * PRODUCER_ABORTED carrying `message` (and `code`, may be NULL). Payload: JSON, at most 4 KiB.
 */
int shmring_producer_abort(shmring_producer *producer, const char *message, const char *code, int unlink_name);

/* Frees the slots of consumers whose process is gone; returns how many (or a negative error). */
int shmring_producer_reclaim_dead(shmring_producer *producer);

/* ----------------------------------------------------------------------------------------------- */
/* Consumer                                                                                         */
/* ----------------------------------------------------------------------------------------------- */

typedef struct shmring_consumer shmring_consumer;

typedef struct shmring_consumer_options {
  int tethered;                 /* 1: the producer never overwrites what we have not read (default 1) */
  int from_oldest;              /* 1: start at the oldest record still in the ring; 0: at the next one (default) */
  uint32_t spin_microseconds;   /* shmring_wait spins this long before sleeping. Default 50 */
  uint32_t wait_for_restart_ms; /* how long a dead producer may stay dead before PRODUCER_DIED. Default 0 */
  int allow_foreign_owner;      /* 1: join a ring another user created (default 0: FOREIGN_OWNER) */
} shmring_consumer_options;

void shmring_consumer_options_init(shmring_consumer_options *options);

/*
 * Joins the ring `name`: claims a slot (reclaiming dead consumers' slots when none is free), settles the
 * start. Errors: INVALID_ARGUMENT, SEGMENT_NOT_FOUND, PERMISSION_DENIED, FOREIGN_OWNER, SEGMENT_TOO_SMALL, NOT_A_RING,
 * INCOMPATIBLE_VERSION, CORRUPT_SEGMENT, INIT_TIMEOUT, NO_FREE_SLOT, SYSTEM_ERROR, OUT_OF_MEMORY.
 */
int shmring_consumer_open(const char *name, const shmring_consumer_options *options, shmring_consumer **out);

typedef struct shmring_record {
  uint32_t type;         /* SHMRING_RECORD_MESSAGE or SHMRING_RECORD_BYTES */
  uint32_t length;       /* payload bytes */
  const void *data;      /* the payload: valid until the next read/poll/wait/close on this consumer */
  uint64_t sequence;     /* the message's sequence number */
} shmring_record;

/*
 * Reads the next message into `*record`. Returns OK, EMPTY, END, PRODUCER_ABORTED (after everything the
 * producer sent; see shmring_abort_reason), CORRUPT_SEGMENT, CLOSED. Never blocks.
 */
int shmring_read(shmring_consumer *consumer, shmring_record *record);

/*
 * Calls `handler(ctx, record)` for each message available, at most `limit` (0: no limit); stops early when
 * the handler returns non-zero. Returns how many were delivered (>= 0), or, when none was, a negative
 * error (as shmring_read). At the end of the stream it returns 0 and shmring_ended() says END (so does
 * the next shmring_wait): `poll; if 0, wait` loops end by themselves. Never blocks.
 */
typedef int (*shmring_handler)(void *ctx, const shmring_record *record);
int shmring_poll(shmring_consumer *consumer, shmring_handler handler, void *ctx, size_t limit);

/*
 * Sleeps until something can be read (announce on DATA_WAITERS, re-check, FUTEX_WAIT on PUBLISHED_TAIL),
 * at most `timeout_ms` (-1: forever). Returns OK (read now), TIMEOUT, END (the producer closed without
 * room for its END record), PRODUCER_DIED (dead for longer than wait_for_restart_ms), RING_REPLACED (dead,
 * and a restarted producer made a new ring under the name: reopen to follow it), CONSUMER_EVICTED.
 */
int shmring_wait(shmring_consumer *consumer, int timeout_ms);

/* Most consumers one shmring_wait_any watches. */
#define SHMRING_WAIT_ANY_MAX 64

/*
 * Sleeps until any of `count` consumers (1..SHMRING_WAIT_ANY_MAX, on different rings) has something to read
 * or has ended, at most `timeout_ms` (-1: forever): announces on every ring, re-checks every tail, then one
 * futex_waitv (Linux 5.16+; without it, polls every 10 ms) over all of them. Returns the index of the first
 * such consumer looking from `first` on, round the array (>= 0: read it; shmring_ended says whether it
 * ended), TIMEOUT, or INVALID_ARGUMENT (count out of range, a NULL consumer). Pass the last index returned
 * plus one as `first`, and read a bounded batch each time, so that a flooding ring cannot starve the others.
 * Like a Node Selector's wait, for a C stage fed by several producers.
 */
int shmring_wait_any(shmring_consumer *const *consumers, size_t count, size_t first, int timeout_ms);

/* 0 while the stream goes on; END, PRODUCER_ABORTED or the error that ended it. */
int shmring_ended(const shmring_consumer *consumer);
/*
 * 1 when the consumer joined read-only: an untethered consumer (options.tethered = 0) opening a ring it may
 * only read (EACCES on O_RDWR, e.g. a group member of a 0640 ring) maps all of it read-only, takes no
 * slot, and polls every 10 ms in shmring_wait instead of announcing its sleep (protocol.md).
 */
int shmring_consumer_read_only(const shmring_consumer *consumer);

uint64_t shmring_consumer_lost(const shmring_consumer *consumer);      /* messages missed (untethered) */
uint64_t shmring_consumer_received(const shmring_consumer *consumer);  /* messages delivered */
/* After PRODUCER_ABORTED: the ABORT record's JSON payload (NUL-terminated), else "". */
const char *shmring_abort_reason(const shmring_consumer *consumer);

/* Publishes the head, releases the slot, wakes a producer waiting for space, unmaps, frees. */
int shmring_consumer_close(shmring_consumer *consumer);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_H */
