'use strict';
// Stage 1: an audio-like source. Writes 1024-sample Float32 frames (48 kHz, a 440 Hz tone with a slow
// envelope) straight into the ring with claim()/commit(): the samples are computed in place, in shared
// memory, with no copy and no encoding. Paced at real time x --speed.
//
// Frame payload: 4 x uint32 header (frame index, sample rate, channel count, reserved) + 1024 float32.
const { Producer } = require('shmring');

const [name, speedArg] = process.argv.slice(2);
const SAMPLE_RATE = 48000;
const FRAME_SAMPLES = 1024;
const HEADER_FLOATS = 4;
const speed = Number(speedArg) || 1;

const producer = Producer.create(name, { capacity: 1 << 20 });
let frame = 0;
let stopping = false;
let timer;

function writeFrame() {
  const claim = producer.claim((HEADER_FLOATS + FRAME_SAMPLES) * 4);
  // Full: only tethered consumers can hold a ring full; the processing stage is untethered, so this is
  // rare. Skip the frame, as a real-time source would.
  if (claim === undefined) return false;
  const floats = claim.float32;
  const header = new Uint32Array(floats.buffer, floats.byteOffset, HEADER_FLOATS);
  header[0] = frame;
  header[1] = SAMPLE_RATE;
  header[2] = 1;
  const samples = floats.subarray(HEADER_FLOATS);
  const start = frame * FRAME_SAMPLES;
  const envelope = 0.5 + 0.45 * Math.sin((2 * Math.PI * frame) / 200);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    samples[i] = envelope * Math.sin((2 * Math.PI * 440 * (start + i)) / SAMPLE_RATE);
  }
  claim.commit();
  return true;
}

// Real-time pacing: as many frames as the clock says are due (timers are coarse; catch up in a burst).
let startedAt = Date.now();
function begin() {
  startedAt = Date.now();
  timer = setInterval(tick, 5);
}
function tick() {
  const due = Math.floor(((Date.now() - startedAt) / 1000) * (SAMPLE_RATE / FRAME_SAMPLES) * speed);
  while (!stopping && frame < due) {
    writeFrame();
    frame++;
  }
}

function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  producer.close(); // end of stream after the last frame; unlinks the segment
  process.send?.({ role: 'source', frames: frame, closed: true });
  process.disconnect?.();
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('message', (message) => {
  if (message === 'start') begin();
  if (message === 'stop') stop();
});
process.on('disconnect', stop);
process.send?.({ role: 'source', ready: true });
if (!process.send) begin(); // started by hand: run until Ctrl-C
