/**
 * One consumer, one way of reading. A 'message' listener and an async iterator on the same consumer
 * would each take some of the messages (every read moves the one cursor), so each would silently miss
 * the others': the second style to start throws instead.
 */
import { ShmRingError } from '../errors';

export type ReadingStyle = 'message events' | 'an async iterator';

export function conflictingReaders(ring: string, first: ReadingStyle, second: ReadingStyle): ShmRingError {
  return new ShmRingError(
    'CONFLICTING_READERS',
    `this consumer of ${ring} is read with ${first}; reading it with ${second} as well would split the messages between the two`,
    {
      segment: ring,
      hint: 'Use one reading style per consumer, or open a second consumer (each consumer sees every message).',
    },
  );
}
