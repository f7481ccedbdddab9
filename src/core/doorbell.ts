/**
 * Doorbells: a FIFO that one process's event loop polls directly (libuv `uv_poll`), so another process
 * wakes that loop with a one-byte write: one hop, like a socket, where a futex needs a helper thread and
 * a thread-safe function (two hops).
 *
 *   producer ── write(1 byte) ─▶ FIFO ─▶ epoll in the consumer's event loop ─▶ JS callback
 *
 * `Doorbell` is the receiving end (it creates, polls and removes the FIFO); `openBellForWriting` and
 * `ringBell` are the ringing end. Nothing here knows about rings: src/ring/bells.ts names the FIFOs and
 * decides who rings which.
 */
import { ShmRingError } from '../errors';
import { native, NativeDoorbellPoll } from './native';

export type BellWaitResult = 'ok' | 'timed-out';

/** What ringBell found: rung now, already rung (the FIFO holds unread bytes), or nobody listens any more. */
export type RingOutcome = 'rung' | 'already-rung' | 'gone';

interface PendingBellWait {
  resolve: (result: BellWaitResult) => void;
  reject: (reason: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

function systemError(error: unknown, what: string, path: string): ShmRingError {
  const e = error as { code?: string; errno?: number; syscall?: string };
  return new ShmRingError('SYSTEM_ERROR', `${what} ${path} failed (${e?.code ?? String(error)})`, {
    errno: e?.errno,
    syscall: e?.syscall,
    cause: error,
  });
}

/**
 * The receiving end: creates the FIFO at `path` with `mode` (exactly: the umask is undone with fchmod),
 * holds it open for reading and (so it never reads end-of-file) for writing, and polls it on this
 * thread's event loop. One wait at a time. close() removes the FIFO.
 */
export class Doorbell {
  readonly path: string;
  private readFd = -1;
  private keepAliveFd = -1;
  private poll: NativeDoorbellPoll | undefined;
  private pending: PendingBellWait | undefined;
  private refed = true;
  private closed = false;

  /**
   * Throws a ShmRingError (code SYSTEM_ERROR, with errno and syscall) when the FIFO cannot be made, e.g.
   * EEXIST when another user's file sits at `path`. Nothing is left behind after a failure.
   */
  constructor(path: string, mode: number, owner: { uid: number; gid: number }) {
    this.path = path;
    try {
      native.mkfifo(path, 0o600);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw systemError(error, 'mkfifo', path);
      // Left by an earlier owner of the same slot that was killed: the slot is ours now, so is the name.
      try {
        native.unlink(path);
        native.mkfifo(path, 0o600);
      } catch (retryError) {
        throw systemError(retryError, 'mkfifo', path);
      }
    }
    try {
      this.readFd = native.openFifo(path, false);
      this.keepAliveFd = native.openFifo(path, true);
      // The ring's group where we may (so a producer of that group can ring), then the ring's mode
      // without execute bits: never wider than the ring. A root consumer also takes the ring's owner.
      if (process.getuid?.() === 0) native.fchown(this.readFd, owner.uid, owner.gid);
      else if (process.getgid?.() !== owner.gid) tryChangeGroup(this.readFd, owner.gid);
      native.fchmod(this.readFd, mode & 0o666);
      this.poll = new native.DoorbellPoll(this.readFd, (result) => this.onReadable(result));
    } catch (error) {
      this.releaseFds();
      removeQuietly(path);
      throw systemError(error, 'opening the doorbell', path);
    }
  }

  /** Resolves 'ok' when the bell rings (bytes rung before the wait count too), 'timed-out' after timeoutMs. */
  wait(timeoutMs: number): Promise<BellWaitResult> {
    if (this.closed) return Promise.reject(new ShmRingError('CLOSED', 'Doorbell.wait: the doorbell is closed'));
    if (this.pending !== undefined) throw new Error('Doorbell.wait: a wait is already pending');
    return new Promise<BellWaitResult>((resolve, reject) => {
      const pending: PendingBellWait = { resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs)) {
        // The poll handle keeps the loop alive (when ref'ed), not the timer.
        pending.timer = setTimeout(() => this.settle('timed-out'), Math.max(0, timeoutMs));
        pending.timer.unref();
      }
      this.pending = pending;
      if (this.refed) this.poll?.ref();
    });
  }

  /** Ends the pending wait with `error` (no-op when none is pending). */
  cancel(error: unknown): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    this.poll?.unref();
    pending.reject(error);
  }

  ref(): void {
    this.refed = true;
    if (this.pending !== undefined) this.poll?.ref();
  }

  unref(): void {
    this.refed = false;
    this.poll?.unref();
  }

  /** Stops polling, closes the FIFO and removes its name; a pending wait rejects with CLOSED. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancel(new ShmRingError('CLOSED', 'the doorbell was closed'));
    this.poll?.close();
    this.poll = undefined;
    this.releaseFds();
    removeQuietly(this.path);
  }

  private onReadable(result: number): void {
    if (result < 0) {
      this.cancel(new ShmRingError('SYSTEM_ERROR', `reading the doorbell ${this.path} failed (errno ${-result})`, { errno: -result, syscall: 'read' }));
      return;
    }
    // Bytes that arrive while nobody waits (a ring that raced a wake by the futex) are drained and dropped.
    this.settle('ok');
  }

  private settle(result: BellWaitResult): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    this.poll?.unref();
    pending.resolve(result);
  }

  private releaseFds(): void {
    for (const fd of [this.readFd, this.keepAliveFd]) {
      if (fd < 0) continue;
      try {
        native.close(fd);
      } catch {
        // EBADF/EIO on close: the fd is released either way.
      }
    }
    this.readFd = -1;
    this.keepAliveFd = -1;
  }
}

function tryChangeGroup(fd: number, gid: number): void {
  try {
    native.fchown(fd, -1, gid);
  } catch {
    // Not a member of the ring's group: the FIFO keeps our group, and the mode still never exceeds the ring's.
  }
}

/** Removes a FIFO (or anything) at `path`; true when it was there. Other failures are ignored. */
export function removeQuietly(path: string): boolean {
  try {
    native.unlink(path);
    return true;
  } catch {
    return false;
  }
}

/** Opens a bell for ringing; undefined when nobody listens (ENXIO), it is gone (ENOENT) or is no FIFO. */
export function openBellForWriting(path: string): number | undefined {
  try {
    return native.openFifo(path, true);
  } catch {
    return undefined;
  }
}

/**
 * Whether some process holds the FIFO at `path` open for reading: true, false (ENXIO: an orphan), or
 * undefined when that cannot be told (gone, not a FIFO, no permission).
 */
export function bellHasReader(path: string): boolean | undefined {
  try {
    native.close(native.openFifo(path, true));
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'ENXIO' ? false : undefined;
  }
}

/** Rings a bell opened by openBellForWriting. Never throws: a listener that is gone is 'gone'. */
export function ringBell(fd: number): RingOutcome {
  const result = native.ringFifo(fd);
  // Negative: -EPIPE (the reader closed it) or another errno that makes this fd useless.
  return result === 1 ? 'rung' : result === 0 ? 'already-rung' : 'gone';
}

/** Closes a bell opened for ringing. */
export function closeBell(fd: number): void {
  try {
    native.close(fd);
  } catch {
    // Already released.
  }
}
