/**
 * The producer's own paths (src/api/producer.ts), in this process so that mutation testing sees them:
 * written against mutants of producer.ts that survived the suite (docs/testing.md, "Mutation testing").
 * - sendSync held back by a tethered consumer sleeps on the futex (no CPU while it waits), with a
 *   sleep its timeout bounds, and returns false at the timeout;
 */
import { Consumer, Producer } from '../../src';
import * as futex from '../../src/core/futex';
import { CAPACITY, PER_RING, message } from './mutant-fixtures';
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
