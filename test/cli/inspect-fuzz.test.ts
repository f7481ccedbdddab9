/**
 * A segment's bytes are whatever anyone with write access put there: the snapshot, the use assessment and
 * every renderer must survive any of them. Seeded mutations of a valid control region; the seed and the
 * case count are printed.
 */
import * as fs from 'fs';
import fc from 'fast-check';
import { renderInspect } from '../../src/cli/inspect';
import { renderSurvey } from '../../src/cli/ls';
import { summarize } from '../../src/cli/survey';
import { geometryFor, writeHeader } from '../../src/ring/header';
import { assessUse, readSnapshot } from '../../src/ring/snapshot';
import * as L from '../../src/ring/layout';
import { scanShmUsage } from '../../src/core/procmaps';
import { removeSegment, uniqueName } from '../support/names';

const name = uniqueName('cli-fuzz');
afterAll(() => removeSegment(name));

function validRing(): Uint8Array {
  const geometry = geometryFor(4096, 4, L.defaultMaxMessageLength(4096));
  const control = new ArrayBuffer(geometry.segmentLength);
  writeHeader(control, geometry, { pid: process.pid, startTime: 1, pidNamespace: 0, createdAtMs: Date.now() });
  const view = new DataView(control);
  view.setInt32(L.PRODUCER_PID_OFFSET, process.pid, true);
  view.setInt32(L.PRODUCER_STATE_OFFSET, L.ProducerState.LIVE, true);
  view.setInt32(L.PUBLISHED_TAIL_OFFSET, 2048, true);
  view.setInt32(L.SLOTS_OFFSET + L.SLOT_PID_OFFSET, process.pid, true);
  view.setInt32(L.SLOTS_OFFSET + L.SLOT_STATE_OFFSET, L.SlotState.ACTIVE, true);
  return new Uint8Array(control);
}

describe('inspect on hostile segments', () => {
  it('never throws or prints garbage for mutated headers, positions, slots and sizes', () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const runs = Number(process.env.FUZZ_RUNS ?? 300);
    const base = validRing();
    const usage = scanShmUsage();
    const hot = [
      L.LAYOUT_VERSION_OFFSET, L.CONTROL_LENGTH_OFFSET, L.CAPACITY_OFFSET, L.MAX_MESSAGE_LENGTH_OFFSET, L.MAX_CONSUMERS_OFFSET,
      L.PRODUCER_PID_OFFSET, L.PRODUCER_STATE_OFFSET, L.PRODUCER_START_TIME_OFFSET, L.PUBLISHED_TAIL_OFFSET, L.TAIL_INTENT_OFFSET,
      L.OLDEST_POSITION_OFFSET, L.MESSAGES_SENT_OFFSET, L.LAST_SEND_AT_MS_OFFSET, L.SLOTS_OFFSET, L.SLOTS_OFFSET + L.SLOT_HEAD_OFFSET,
      L.SLOTS_OFFSET + L.SLOT_PID_OFFSET, L.SLOTS_OFFSET + L.SLOT_RECEIVED_OFFSET, L.SLOTS_OFFSET + 2 * L.SLOT_LENGTH + L.SLOT_PID_OFFSET,
    ];
    const mutation = fc.record({
      writes: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...hot), fc.nat(base.length - 8)), fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 31, 4096, 1000))), { maxLength: 6 }),
      length: fc.oneof(fc.constant(base.length), fc.nat(base.length + 64)),
    });
    let cases = 0;
    let passed = false;
    try {
      fc.assert(
        fc.property(mutation, ({ writes, length }) => {
          cases++;
          const bytes = base.slice();
          const view = new DataView(bytes.buffer);
          for (const [offset, value] of writes) {
            if (Number.isInteger(value) && offset % 8 !== 0) view.setInt32(offset, value | 0, true);
            else view.setFloat64(offset - (offset % 8), value, true);
          }
          const file = Buffer.alloc(length);
          Buffer.from(bytes.buffer, 0, Math.min(length, bytes.length)).copy(file);
          fs.writeFileSync(`/dev/shm${name}`, file);
          const snapshot = readSnapshot(name);
          const use = assessUse(snapshot, usage);
          renderInspect(snapshot, use, { width: 40, color: false });
          const summary = summarize(snapshot, usage);
          renderSurvey({ takenAtMs: 0, rings: [summary], foreign: [], unreadable: [], unreadablePids: [], uninspected: [], deletedMappings: [] }, { color: false });
          JSON.stringify(snapshot);
          if (snapshot.kind === 'ring') {
            for (const c of snapshot.consumers) if (c.lag !== null && !c.lapped) expect(c.lag).toBeLessThanOrEqual(snapshot.geometry!.capacity);
            if (snapshot.positions!.used !== null) expect(snapshot.positions!.used).toBeLessThanOrEqual(snapshot.geometry!.capacity);
          }
        }),
        { seed, numRuns: runs },
      );
      passed = true;
    } finally {
      console.log(`inspect fuzz: seed ${seed}, ${cases} cases tried, ${passed ? '0 crashes' : 'FAILED (see above)'}`);
    }
  });
});
