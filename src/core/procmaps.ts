/**
 * Which processes use a file in /dev/shm right now, from /proc.
 *
 * A process uses a segment if it maps it (a line of /proc/<pid>/maps) or holds it open (a link in
 * /proc/<pid>/fd). Both matter: a creator holds the fd between shm_open and mmap, and a process may
 * close the fd right after mmap. This is the ground truth `ipcs`' "nattch" gives for System V memory and
 * that POSIX shared memory otherwise lacks ("how can you tell if a segment is still in use?").
 *
 * Matching is by inode, not by name: a process that still maps a segment that was unlinked and re-created
 * under the same name maps the *old* inode, and does not use the new file.
 *
 * Reading another user's /proc/<pid>/maps needs ptrace access (root, or the same user): such processes
 * are counted in `unreadablePids`, so callers can say the picture is incomplete instead of guessing.
 */
import * as fs from 'fs';

export const SHM_DIRECTORY = '/dev/shm';

export interface ShmUser {
  pid: number;
  /** /proc/<pid>/comm; '' when it cannot be read. */
  command: string;
  /** The process has the segment mapped. */
  mapped: boolean;
  /** Some mapping of the segment is writable. */
  writable: boolean;
  /** The process holds an open file descriptor on the segment. */
  openFd: boolean;
}

export interface ShmUsage {
  /** Users of each inode in /dev/shm, by inode number. */
  byInode: Map<number, ShmUser[]>;
  /** Pids whose maps or fds could not be read (permissions); the picture is incomplete when non-empty. */
  unreadablePids: number[];
  /** The same processes, with what could not be read and why, so a tool can say it. */
  unreadable: UnreadableProcess[];
  /** Bytes still mapped from /dev/shm files that were already unlinked, by process (memory held by ghosts). */
  deletedMappings: { pid: number; command: string; path: string; bytes: number }[];
}

/** A process whose /proc files could not be read. */
export interface UnreadableProcess {
  pid: number;
  /** /proc/<pid>/comm; '' when it cannot be read. */
  command: string;
  /** The files that could not be read: /proc/<pid>/maps, /proc/<pid>/fd. */
  paths: string[];
  /** errno name: EACCES or EPERM. */
  code: string;
}

interface MapsEntry {
  inode: number;
  writable: boolean;
  bytes: number;
  path: string;
  deleted: boolean;
}

const DELETED_SUFFIX = ' (deleted)';

/** Parses the /dev/shm lines of one /proc/<pid>/maps text. */
export function parseShmMaps(text: string, directory = SHM_DIRECTORY): MapsEntry[] {
  const entries: MapsEntry[] = [];
  const prefix = directory.endsWith('/') ? directory : `${directory}/`;
  for (const line of text.split('\n')) {
    // "start-end perms offset dev inode    pathname"; the pathname may contain spaces.
    const match = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    let path = match[5];
    if (!path.startsWith(prefix)) continue;
    const deleted = path.endsWith(DELETED_SUFFIX);
    if (deleted) path = path.slice(0, -DELETED_SUFFIX.length);
    entries.push({
      inode: Number(match[4]),
      writable: match[3].includes('w'),
      bytes: parseInt(match[2], 16) - parseInt(match[1], 16),
      path,
      deleted,
    });
  }
  return entries;
}

/** Inodes of the files now in `directory`. */
function linkedInodes(directory: string): Set<number> {
  const inodes = new Set<number>();
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch {
    return inodes;
  }
  for (const name of names) {
    try {
      inodes.add(fs.lstatSync(`${directory}/${name}`).ino);
    } catch {
      // removed meanwhile
    }
  }
  return inodes;
}

function readCommand(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function listPids(): number[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * One pass over every process: who maps or holds open each file of `directory`. The calling process is
 * left out (a tool that has just read a segment is not one of its users).
 */
export function scanShmUsage(directory = SHM_DIRECTORY): ShmUsage {
  const byInode = new Map<number, ShmUser[]>();
  const unreadablePids: number[] = [];
  const unreadable: UnreadableProcess[] = [];
  const deletedMappings: ShmUsage['deletedMappings'] = [];
  const prefix = directory.endsWith('/') ? directory : `${directory}/`;
  // A file made under a temporary name and then linked into place (rings, landing logs) shows in its
  // creator's maps and fds under the temporary name, marked deleted: it is still a live file, found by
  // its inode, not memory held by a ghost.
  const linked = linkedInodes(directory);

  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const users = new Map<number, ShmUser>();
    let command: string | undefined;
    const userFor = (inode: number): ShmUser => {
      let user = users.get(inode);
      if (!user) {
        command ??= readCommand(pid);
        user = { pid, command, mapped: false, writable: false, openFd: false };
        users.set(inode, user);
      }
      return user;
    };
    const denied: string[] = [];
    let deniedCode = '';
    const deny = (path: string, error: unknown) => {
      denied.push(path);
      deniedCode ||= (error as NodeJS.ErrnoException).code ?? 'EACCES';
    };

    let maps: string | undefined;
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'latin1');
    } catch (error) {
      // ENOENT/ESRCH: the process exited during the scan; it uses nothing any more.
      if (isPermissionError(error)) deny(`/proc/${pid}/maps`, error);
    }
    if (maps !== undefined) {
      const deletedBytes = new Map<string, number>();
      for (const entry of parseShmMaps(maps, directory)) {
        if (entry.deleted && !linked.has(entry.inode)) {
          deletedBytes.set(entry.path, (deletedBytes.get(entry.path) ?? 0) + entry.bytes);
          continue;
        }
        const user = userFor(entry.inode);
        user.mapped = true;
        if (entry.writable) user.writable = true;
      }
      for (const [path, bytes] of deletedBytes) {
        command ??= readCommand(pid);
        deletedMappings.push({ pid, command, path, bytes });
      }
    }

    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch (error) {
      if (isPermissionError(error)) deny(`/proc/${pid}/fd`, error);
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (!target.startsWith(prefix)) continue;
      let inode: number;
      try {
        // stat through the magic link: the inode the process really holds, even if the name was reused.
        inode = fs.statSync(`/proc/${pid}/fd/${fd}`).ino;
      } catch {
        continue;
      }
      if (target.endsWith(DELETED_SUFFIX) && !linked.has(inode)) continue;
      userFor(inode).openFd = true;
    }

    // A kernel thread has no memory of its own to map anything into: nothing hidden there.
    if (denied.length > 0 && !isKernelThread(pid)) {
      unreadablePids.push(pid);
      unreadable.push({ pid, command: command ?? readCommand(pid), paths: denied, code: deniedCode });
    }
    for (const [inode, user] of users) {
      const list = byInode.get(inode);
      if (list) list.push(user);
      else byInode.set(inode, [user]);
    }
  }
  return { byInode, unreadablePids, unreadable, deletedMappings };
}

/** The users of one file (by its inode), in pid order. */
export function usersOf(usage: ShmUsage, inode: number): ShmUser[] {
  return [...(usage.byInode.get(inode) ?? [])].sort((a, b) => a.pid - b.pid);
}

const PF_KTHREAD = 0x00200000;

/** Whether `pid` is a kernel thread (PF_KTHREAD in the flags, field 9 of /proc/<pid>/stat). */
function isKernelThread(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
    return Number.isFinite(flags) && (flags & PF_KTHREAD) !== 0;
  } catch {
    return false;
  }
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}
