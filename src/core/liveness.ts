/**
 * Process identity and liveness, from /proc.
 *
 * A process is identified by its pid *and* its start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat), so a pid reused by an unrelated process is never mistaken for the one that
 * registered. A stopped process (SIGSTOP, a debugger) is alive; a zombie is dead.
 *
 * Pids only mean something inside one pid namespace. Every identity we store carries the namespace it
 * was taken in; a process from another namespace cannot be checked from here, so it is reported as
 * `unknown` and never declared dead (declaring a live consumer dead would let the producer overwrite
 * what it has not read).
 */
import * as fs from 'fs';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks since boot when the process started; 0 when unknown. */
  startTime: number;
  /** Inode of the pid namespace the pid belongs to; 0 when unknown. */
  pidNamespace: number;
}

export type Liveness = 'alive' | 'dead' | 'unknown';

export interface ProcessStat {
  state: string;
  startTime: number;
}

/** Parses /proc/<pid>/stat; undefined when the process does not exist (or cannot be read). */
export function readProcessStat(pid: number): ProcessStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ')': the fields
  // we need come after the *last* ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const startTime = Number(fields[19]);
  if (!fields[0] || !Number.isFinite(startTime)) return undefined;
  return { state: fields[0], startTime };
}

let ownNamespace: number | undefined;

/** Inode of this process's pid namespace (0 if /proc/self/ns/pid cannot be read). */
export function currentPidNamespace(): number {
  if (ownNamespace === undefined) {
    try {
      const link = fs.readlinkSync('/proc/self/ns/pid'); // "pid:[4026531836]"
      const match = /\[(\d+)\]/.exec(link);
      ownNamespace = match ? Number(match[1]) : 0;
    } catch {
      ownNamespace = 0;
    }
  }
  return ownNamespace;
}

let ownIdentity: ProcessIdentity | undefined;

/** This process's identity (cached: none of it changes while the process lives). */
export function currentProcess(): ProcessIdentity {
  if (ownIdentity === undefined || ownIdentity.pid !== process.pid) {
    const stat = readProcessStat(process.pid);
    ownIdentity = { pid: process.pid, startTime: stat?.startTime ?? 0, pidNamespace: currentPidNamespace() };
  }
  return ownIdentity;
}

/** Whether the process that registered `identity` is still running. */
export function liveness(identity: ProcessIdentity): Liveness {
  if (!Number.isInteger(identity.pid) || identity.pid <= 0) return 'dead';
  const ns = currentPidNamespace();
  if (identity.pidNamespace !== 0 && ns !== 0 && identity.pidNamespace !== ns) return 'unknown';
  const stat = readProcessStat(identity.pid);
  if (stat === undefined) return 'dead';
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return 'dead';
  if (identity.startTime !== 0 && stat.startTime !== identity.startTime) return 'dead'; // pid reused
  return 'alive';
}

export function isProcessStopped(pid: number): boolean {
  const state = readProcessStat(pid)?.state;
  return state === 'T' || state === 't';
}
