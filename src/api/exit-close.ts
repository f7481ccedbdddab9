/**
 * Producers still open when the process exits normally are closed then (ProducerOptions.closeOnExit), so
 * that a script that forgets close(), or ends with process.exit(), gives its consumers a clean end of
 * stream and leaves nothing in /dev/shm. One 'exit' listener serves every producer of the process (or
 * worker thread: a worker's `process` emits its own 'exit').
 *
 * Only the 'exit' event can do this: SIGKILL, a default SIGTERM/SIGINT or a crash of the process end it
 * without running JavaScript, and consumers then see PRODUCER_DIED as before.
 */
interface Closable {
  close(): void;
}

const open = new Set<Closable>();
let listening = false;

function closeAll(): void {
  for (const producer of [...open]) {
    try {
      producer.close();
    } catch {
      // The process is exiting: nothing is left to report a failure to, and the others must still close.
    }
  }
  open.clear();
}

/** Closes `producer` when the process exits, unless it was forgotten (closed) before. */
export function closeOnExit(producer: Closable): void {
  if (!listening) {
    listening = true;
    process.on('exit', closeAll);
  }
  open.add(producer);
}

/** The producer closed by itself: nothing to do at exit. */
export function forgetOnExit(producer: Closable): void {
  open.delete(producer);
}
