/**
 * Types shared by the selector and discovery (fan-in). Here so that neither imports the other's types:
 * the selector owns followers (discovery.ts), and a follower talks back only through FollowerHost.
 */
import type { ConsumerOptions } from './consumer';

/**
 * Why a ring left the selector: its producer `closed` it (after its last message was delivered), the
 * producer `died` (likewise, after everything it committed), the user `removed` it, or it `failed`
 * (corrupt segment, consumer slot reclaimed).
 */
export type RingRemovedReason = 'closed' | 'producer-died' | 'removed' | 'failed';

/** One instance of a segment: changes when the segment is re-created (not when a producer takes it over). */
export interface RingIdentity {
  instance: string;
}

/** Per selector: name -> the instance discovery last added, dropped or reported. */
export type SeenRings = Map<string, RingIdentity>;

/** What a follower needs from its selector. */
export interface FollowerHost<Follower> {
  has(name: string): boolean;
  add(name: string, consumerOptions: ConsumerOptions): void;
  warn(error: Error): void;
  followerClosed(follower: Follower): void;
  isRefed(): boolean;
}

