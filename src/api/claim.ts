/** Zero-copy sends: a record reserved in the ring, written in place, then committed or aborted. */
import { outOfRange } from '../errors';

/** What a claim needs from its producer. */
export interface ClaimOwner {
  _commitClaim(length: number, claimed: number): void;
  _abortClaim(): void;
}

/** A record reserved with Producer#claim(): write the payload in place, then commit() or abort(). */
export class Claim {
  private done = false;
  constructor(
    private readonly producer: ClaimOwner,
    /** The writable payload bytes, inside the ring. Do not keep it after commit()/abort(). */
    readonly bytes: Uint8Array,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  /** The payload as a Float32Array (the payload is 16-byte aligned; length must be a multiple of 4). */
  get float32(): Float32Array {
    return new Float32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
  }

  get float64(): Float64Array {
    return new Float64Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 3);
  }

  /** Publishes the record, optionally with fewer bytes than claimed. */
  commit(length = this.bytes.length): void {
    if (this.done) throw new Error('this claim was already committed or aborted');
    if (!Number.isInteger(length) || length < 0 || length > this.bytes.length) {
      throw outOfRange(`commit length must be an integer in 0..${this.bytes.length}, got ${length}`);
    }
    this.done = true;
    this.producer._commitClaim(length, this.bytes.length);
  }

  /** Drops the record: nothing is published. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.producer._abortClaim();
  }
}

