'use strict';
// Stage 3: consumes the per-frame results and reports frames per second, the level, and lost frames
// (gaps in the frame numbers, whether lost before or after the processing stage).
const { Consumer } = require('shmring');

const [name] = process.argv.slice(2);
const consumer = Consumer.open(name); // tethered: the processing stage waits for us rather than drop results
let frames = 0;
let lost = 0;
let expected = -1;
let secondFrames = 0;
let rms = 0;
let peak = 0;

function print() {
  const line = `sink: ${String(secondFrames).padStart(4)} frames/s  rms ${rms.toFixed(3)}  peak ${peak.toFixed(3)}  lost ${lost}`;
  console.log(line);
  secondFrames = 0;
}
const timer = setInterval(print, 1000);

function handle(result) {
  if (expected >= 0 && result.frame > expected) lost += result.frame - expected;
  expected = result.frame + 1;
  frames++;
  secondFrames++;
  rms = result.rms;
  peak = result.peak;
}

let finished = false;

function finish() {
  // (Not consumer.isClosed: leaving the for await loop below closes the consumer by itself.)
  if (finished) return;
  finished = true;
  clearInterval(timer);
  consumer.close();
  const summary = { role: 'sink', frames, lost, closed: true };
  console.log(`sink: ${frames} frames received, ${lost} lost`);
  process.send?.(summary);
  process.disconnect?.();
}

process.on('SIGINT', () => {
  if (!consumer.isClosed) consumer.drain(handle);
  finish();
});
process.on('SIGTERM', () => {
  if (!consumer.isClosed) consumer.drain(handle);
  finish();
});

process.send?.({ role: 'sink', ready: true });
(async () => {
  for await (const result of consumer) handle(result);
})()
  .catch((error) => console.error(`sink: ${error.message}`))
  .finally(finish);
