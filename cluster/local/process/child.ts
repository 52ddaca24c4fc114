import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { binaryFor } from '../../../lib/config.ts';
import { REPO_ROOT } from '../../../lib/repo.ts';
import { Fatal, eventually } from '../../../lib/poll.ts';
import { groupExists, processIdentity, signalGroup } from './proc-identity.ts';
import { TEST_RUN_MARKER_ENV } from './paths.ts';

/** How long a killed group's last processes may take to go (the kernel closing their sockets). */
const GROUP_GONE_MS = 2_000;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (binary missing, …). */
  error?: Error;
}

/**
 * A process we own (the runtime's servers and pods, a test's service, the bench's): its own
 * process group (so a signal reaches everything it forks, and a Ctrl-C in the user's
 * terminal does not), output appended to a log file by the kernel rather than through us.
 * The log may hold earlier runs of the same name (a restarted pod): `output` is this
 * process's part of it.
 */
export class Child {
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  readonly identity: string;
  /** Where this process's output ends in the log, once it has exited (a later run appends after it). */
  private logEnd: number | undefined;

  /** Ports it listens on (a pod's container adds the one it reports once it has bound it). */
  readonly ports: number[];

  /** `logStart`: the log's length when this process started writing to it. */
  constructor(readonly name: string, readonly proc: ChildProcess, readonly log: string, ports: number[] = [], private readonly logStart = 0) {
    this.ports = [...ports];
    this.exited = new Promise((resolve) => {
      proc.once('error', (error) => { this.status ??= { code: null, signal: null, error }; resolve(this.status); });
      proc.once('exit', (code, signal) => {
        this.logEnd = fileSize(this.log);
        this.status ??= { code, signal };
        resolve(this.status);
      });
    });
    this.identity = (proc.pid && processIdentity(proc.pid)) || '';
  }

  get pid(): number { return this.proc.pid ?? -1; }
  get running(): boolean { return this.status === undefined && this.proc.pid !== undefined; }
  get exitStatus(): ExitStatus | undefined { return this.status; }

  signal(signal: NodeJS.Signals): void {
    if (this.running) signalGroup(this.pid, signal);
  }

  /** SIGTERM (or `signal`), then SIGKILL to the group after `graceMs`; resolves on exit. */
  async stop(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    // Whatever it forked dies with it.
    signalGroup(this.pid, 'SIGKILL');
    // One that outlives a SIGKILL this long is stuck in the kernel: the teardown goes on, and
    // the sweep at the next start finds it.
    await this.groupGone().catch(() => undefined);
    return status;
  }

  /**
   * Resolves once no process of its group is alive. A forked worker (HAProxy's) outlives its
   * parent for a moment after both are killed, and holds the listening sockets until it is
   * gone: whoever binds those ports next waits for this, not for the parent's exit.
   */
  async groupGone(timeoutMs = GROUP_GONE_MS): Promise<void> {
    const group = this.pid;
    if (group <= 0) return;
    await eventually(`every process of ${this.name}'s group ${group} gone`, async () => !groupExists(group), (gone) => gone,
      { timeoutMs, intervalMs: 20 });
  }

  /** Everything this process has written so far (stdout and stderr, interleaved as written). */
  get output(): string {
    const end = this.logEnd ?? fileSize(this.log);
    if (end <= this.logStart) return '';
    const fd = openSync(this.log, 'r');
    try {
      const buffer = Buffer.alloc(end - this.logStart);
      const read = readSync(fd, buffer, 0, buffer.length, this.logStart);
      return buffer.toString('utf8', 0, read);
    } finally {
      closeSync(fd);
    }
  }

  /** The last `chars` of its output: what a failure report shows. */
  tail(chars = 2000): string { return this.output.slice(-chars); }

  /** Its JSON log lines, parsed; other lines skipped. */
  jsonLogs(): Record<string, unknown>[] {
    return this.output.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try { return [JSON.parse(line) as Record<string, unknown>]; } catch { return []; }
    });
  }
}

function fileSize(file: string): number {
  try { return statSync(file).size; } catch { return 0; }
}

/** "exited with code 1", "killed by SIGKILL", "could not start: spawn prometheus ENOENT". */
export function describeExit(status: ExitStatus | undefined): string {
  if (!status) return 'still running';
  if (status.error) return `could not start: ${status.error.message}`;
  return status.signal ? `killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** The binary of a component: PERCOLATE_<NAME>_BIN overrides PATH (e.g. PERCOLATE_NATS_SERVER_BIN; lib/config.ts reads it). */
export function binary(name: string): string {
  return binaryFor(name);
}

/**
 * What a child takes from our own environment: only what finding binaries and a home and a
 * temp dir needs, and the test run's marker (so a sweep finds it). Like a container, it
 * does not inherit the rest.
 */
export function hostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', TEST_RUN_MARKER_ENV] as const) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

/** Who a child runs as (a container's runAsUser / runAsGroup): only root can give that. */
export interface ChildUser { uid: number; gid: number }

/**
 * Starts `command` in its own process group in the repository root, its output appended to
 * `log`. `inheritFds` are open descriptors of ours the child gets as its fds 3, 4, … (the
 * listening sockets a HAProxy binds with `fd@3`).
 */
export function spawnChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, log: string, ports: number[] = [], user?: ChildUser, inheritFds: number[] = []): Child {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  try {
    const logStart = fstatSync(fd).size;
    const proc = spawn(command, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', fd, fd, ...inheritFds], ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    return new Child(name, proc, log, ports, logStart);
  } finally {
    closeSync(fd);
  }
}

/**
 * Resolves with `child` once `healthy` says so; a child that exits meanwhile fails at once
 * (its exit status), and one not healthy within the bound is stopped before the error.
 */
export async function whenHealthy(child: Child, what: string, timeoutMs: number, healthy: () => Promise<boolean>): Promise<Child> {
  try {
    await eventually(what, async () => {
      if (!child.running) throw new Fatal(describeExit(child.exitStatus));
      return healthy();
    }, (ok) => ok, { timeoutMs, intervalMs: 25 });
  } catch (err) {
    await child.stop(1_000);
    throw err;
  }
  return child;
}
