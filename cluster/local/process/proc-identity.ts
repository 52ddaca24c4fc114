import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

function procStat(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * A string that names one process for its whole life: its start time. A pid alone can be
 * reused after a crash; pid + start time cannot, so a sweep never kills a stranger.
 */
export function processIdentity(pid: number): string | undefined {
  if (HAS_PROC) {
    const fields = procStat(pid);
    // After the name: state is field 3 (index 0 here), starttime field 22 (index 19).
    return fields?.[19];
  }
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie: a zombie holds no port and does nothing, it only waits for its parent. */
/** This process as a cluster's owner. */
export function currentProcess(): { pid: number; identity: string } {
  return { pid: process.pid, identity: processIdentity(process.pid) ?? '' };
}

export function isRunning(pid: number): boolean {
  if (HAS_PROC) {
    const state = procStat(pid)?.[0];
    return state !== undefined && state !== 'Z' && state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function isSameProcess(pid: number, identity: string | undefined): boolean {
  return identity !== undefined && isRunning(pid) && processIdentity(pid) === identity;
}

/**
 * Pids of our own processes whose environment has `name=value` (Linux; elsewhere the
 * recorded pids are all a sweep has). This is how a sweep finds a process whose record
 * was lost because the daemon died between spawning it and writing the state file.
 */
export function processesWithEnv(name: string, value: string): number[] {
  return [...processesWithEnvVar(name)].filter(([, v]) => v === value).map(([pid]) => pid);
}

/** Our running processes that carry the variable `name`, with its value (Linux; elsewhere empty). */
export function processesWithEnvVar(name: string): Map<number, string> {
  const found = new Map<number, string>();
  if (!HAS_PROC) return found;
  const prefix = `${name}=`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      // NUL-separated NAME=value entries; a leading NUL lets the first entry match like the others.
      const env = `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`;
      const at = env.indexOf(`\0${prefix}`);
      if (at < 0) continue;
      const start = at + 1 + prefix.length;
      const end = env.indexOf('\0', start);
      if (isRunning(pid)) found.set(pid, env.slice(start, end === -1 ? undefined : end));
    } catch {
      // Not ours (EACCES) or already gone.
    }
  }
  return found;
}

/** The process's command name ("nats-server", "node"), for messages; its pid when unknown. */
export function processName(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * Whether `pid` leads its own process group, as every child the harness spawns does
 * (detached); helpers of the test runner itself (its workers, esbuild) do not.
 */
export function leadsGroup(pid: number): boolean {
  const fields = procStat(pid);
  return fields !== undefined && Number(fields[2]) === pid;
}

/**
 * True while a process of the group is alive. A zombie is not (it holds no descriptor, and
 * one whose parent died waits for whoever reaps orphans here, which may be never).
 */
export function groupExists(pgid: number): boolean {
  if (HAS_PROC) {
    return readdirSync('/proc').some((entry) => {
      if (!/^\d+$/.test(entry)) return false;
      const stat = procStat(Number(entry));
      return stat !== undefined && Number(stat[2]) === pgid && stat[0] !== 'Z' && stat[0] !== 'X';
    });
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals a process group (our children lead their own), falling back to the pid. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
