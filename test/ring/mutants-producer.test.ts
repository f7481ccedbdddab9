/**
 * The producer's own paths (src/api/producer.ts), in this process so that mutation testing sees them:
 * written against mutants of producer.ts that survived the suite (docs/testing.md, "Mutation testing").
 * - sendSync held back by a tethered consumer sleeps on the futex (no CPU while it waits), with a
 *   sleep its timeout bounds, and returns false at the timeout;
 * - a tethered slot marked active without an owner (a claimer that lost the slot to a reclaim in the
 *   same instant) holds nothing back.
 */
import { Consumer, Producer } from '../../src';
import * as futex from '../../src/core/futex';
import * as L from '../../src/ring/layout';
import { claimSlot } from '../../src/ring/slots';
import { currentProcess } from '../../src/core/liveness';
import { CAPACITY, PER_RING, memoryOf, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

afterEach(() => jest.restoreAllMocks());

describe('sendSync held back', () => {
  it('sleeps on the futex for at most its timeout, then returns false', () => {
    const p = track(Producer.create(ringName('sync-held'), { capacity: CAPACITY, livenessIntervalMs: 60_000 }));
    track(Consumer.open(p.name, { tethered: true }));
    let sent = 0;
    while (p.sendBytes(message(sent))) sent++;
    expect(sent).toBe(PER_RING);
    const wait = jest.spyOn(futex, 'wait');
    expect(p.sendBytesSync(message(sent), 20)).toBe(false);
    expect(wait).toHaveBeenCalled();
    for (const call of wait.mock.calls) expect(call[3]).toBeLessThanOrEqual(20);
  }, 20_000);
});

describe('the write limit', () => {
  it('ignores an active tethered slot whose pid word is 0 (no owner)', () => {
    const p = track(Producer.create(ringName('ownerless'), { capacity: CAPACITY }));
    const memory = memoryOf(p);
    const index = claimSlot(memory, currentProcess(), true, 0, 0);
    expect(index).toBe(0);
    Atomics.store(memory.consumerI32, (L.slotOffset(index) + L.SLOT_PID_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2, 0);
    for (let n = 0; n < 3 * PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
  });
});
