'use strict';
// Stage 2: reads frames from the source's ring and republishes per-frame RMS and peak on a second ring.
// Reading is zero-copy too: tryReceiveBytes() returns a view of the frame inside the ring (valid until the
// next read), and the loop computes straight over it. Untethered: a real-time chain never holds its
// source back; a frame overwritten before it was read is counted in `consumer.lost`.
const { Consumer, Producer } = require('shmring');

const [framesName, resultsName] = process.argv.slice(2);
const HEADER_FLOATS = 4;

const results = Producer.create(resultsName, { capacity: 1 << 16 });
const frames = Consumer.open(framesName, { tethered: false });
let processed = 0;

function analyse(bytes) {
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
  const frame = new Uint32Array(floats.buffer, floats.byteOffset, HEADER_FLOATS)[0];
  let sumSquares = 0;
  let peak = 0;
  for (let i = HEADER_FLOATS; i < floats.length; i++) {
    const sample = floats[i];
    sumSquares += sample * sample;
    const magnitude = Math.abs(sample);
    if (magnitude > peak) peak = magnitude;
  }
  const rms = Math.sqrt(sumSquares / (floats.length - HEADER_FLOATS));
  processed++;
  // Results are small objects in MessagePack; the sink is tethered, so wait rather than drop.
  const message = { frame, rms, peak, lost: frames.lost };
  if (!results.send(message)) return results.sendAsync(message);
  return undefined;
}

async function run() {
  for (;;) {
    // Everything already in the ring, zero-copy, in one go.
    let bytes;
    while ((bytes = frames.tryReceiveBytes()) !== undefined) {
      const waiting = analyse(bytes);
      if (waiting) await waiting;
    }
    if (frames.ended || frames.isClosed) break;
    // Sleep until the next frame. receive() hands raw messages over as a copy.
    const next = await frames.receive();
    if (next === undefined) break;
    const waiting = analyse(next);
    if (waiting) await waiting;
  }
}

// SIGINT/SIGTERM: what is in the ring now is processed, then both rings are left (results closes, so
// the sink ends).
function drainAndLeave() {
  if (frames.isClosed) return;
  try {
    frames.drain((frame) => analyse(frame));
  } catch {
    // the source died: nothing more to read
  }
  frames.close();
}
process.on('SIGINT', drainAndLeave);
process.on('SIGTERM', drainAndLeave);

process.send?.({ role: 'process', ready: true });
run()
  .catch((error) => {
    if (!frames.isClosed) console.error(`process: ${error.message}`);
  })
  .finally(() => {
    const lost = frames.isClosed ? undefined : frames.lost;
    frames.close();
    results.close();
    process.send?.({ role: 'process', processed, lost, closed: true });
    process.disconnect?.();
  });
