/**
 * docs/api.md matches the code: every public export, every option key (read from the code's own
 * "known options" lists), every error code, and every documented default constant.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as shmring from '../../src';
import { removeSegment, uniqueName } from '../support/names';

const ROOT = path.join(__dirname, '..', '..');
const doc = fs.readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');

/** The option keys a function accepts, from the TypeError it throws for an unknown one. */
function knownOptions(call: (options: object) => unknown): string[] {
  try {
    call({ definitelyNotAnOption: true });
  } catch (error) {
    const match = /known(?: options)?: ([^)]*)\)/.exec((error as Error).message);
    if (match) return match[1]!.split(',').map((key) => key.trim());
    throw error;
  }
  throw new Error('an unknown option was accepted');
}

function optionRows(): Set<string> {
  return new Set([...doc.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]!));
}

const FAN_IN = new Set([
  'Selector', 'DEFAULT_MAX_BATCH_PER_RING', 'DEFAULT_SELECTOR_CHECK_INTERVAL_MS', 'RINGS_PER_WAITER',
  'MAX_SELECTOR_RINGS', 'RingFollower', 'probeRing', 'DEFAULT_RESCAN_INTERVAL_MS', 'DEFAULT_DISCOVERY_INIT_TIMEOUT_MS',
]);

describe('docs/api.md', () => {
  it('mentions every public export', () => {
    const missing = Object.keys(shmring).filter((name) => !FAN_IN.has(name) && !doc.includes(name));
    expect(missing).toEqual([]);
  });

  it('has a row for every option of Producer.create, Consumer.open and the streams', () => {
    const rows = optionRows();
    const name = uniqueName('docs');
    const producer = shmring.Producer.create(name, { capacity: 4096 });
    const consumer = shmring.Consumer.open(name);
    try {
      const internal = new Set(['startPosition', 'startSequence']);
      const keys = [
        ...knownOptions((o) => shmring.Producer.create(name, o)).filter((key) => !internal.has(key)),
        ...knownOptions((o) => shmring.Consumer.open(name, o)),
        ...knownOptions((o) => shmring.createReadStream(consumer, o)),
        ...knownOptions((o) => shmring.createWriteStream(producer, o)),
        ...knownOptions((o) => shmring.futex.waitAsync(new ArrayBuffer(4), 0, 0, o as never)),
      ];
      expect(keys.length).toBeGreaterThan(20);
      const missing = keys.filter((key) => !rows.has(key) && !doc.includes(`\`${key}\``));
      expect(missing).toEqual([]);
    } finally {
      consumer.close();
      producer.close();
      removeSegment(name);
    }
  });

  it('lists every ShmRingError code', () => {
    const source = fs.readFileSync(path.join(ROOT, 'src/errors.ts'), 'utf8');
    const union = source.slice(source.indexOf('export type ShmRingErrorCode'), source.indexOf(';', source.indexOf('export type ShmRingErrorCode')));
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(20);
    const documented = new Set([...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!));
    expect(codes.filter((code) => !documented.has(code))).toEqual([]);
    expect([...documented].filter((code) => !codes.includes(code))).toEqual([]);
  });

  it('states the value of every default constant it names', () => {
    const constants: Record<string, number> = {
      DEFAULT_MAX_CONSUMERS: shmring.DEFAULT_MAX_CONSUMERS,
      DEFAULT_LIVENESS_INTERVAL_MS: shmring.DEFAULT_LIVENESS_INTERVAL_MS,
      DEFAULT_SPIN_MICROSECONDS: shmring.DEFAULT_SPIN_MICROSECONDS,
      DEFAULT_PRODUCER_CHECK_INTERVAL_MS: shmring.DEFAULT_PRODUCER_CHECK_INTERVAL_MS,
      DEFAULT_MAX_BATCH: shmring.DEFAULT_MAX_BATCH,
      DEFAULT_OBJECT_HIGH_WATER_MARK: shmring.DEFAULT_OBJECT_HIGH_WATER_MARK,
      DEFAULT_BYTE_HIGH_WATER_MARK: shmring.DEFAULT_BYTE_HIGH_WATER_MARK,
    };
    for (const [name, value] of Object.entries(constants)) {
      expect(doc).toContain(`\`${name}\` (${value})`);
    }
    expect(shmring.DEFAULT_CAPACITY).toBe(1 << 20);
    expect(doc).toContain('`DEFAULT_CAPACITY` (1 MiB)');
    expect(shmring.DEFAULT_MODE).toBe(0o600);
    expect(doc).toContain('`DEFAULT_MODE` (`0o600`)');
  });
});
