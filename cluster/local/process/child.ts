import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Fatal, eventually } from '../../../lib/poll.ts';
import { processIdentity, signalGroup } from './proc-identity.ts';
import { REPO_ROOT } from './paths.ts';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (binary missing, …). */
  error?: Error;
}

/**
 * A process the runtime owns: its own process group (so a signal reaches everything it
 * forks, and a Ctrl-C in the user's terminal does not), output appended to a log file by
 * the kernel rather than through us.
 */
export class Child {
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  readonly identity: string;

  /** Ports it listens on (a pod's container adds the one it reports once it has bound it). */
  readonly ports: number[];

  constructor(readonly name: string, readonly proc: ChildProcess, readonly log: string, ports: number[] = []) {
    this.ports = [...ports];
    this.exited = new Promise((resolve) => {
      proc.once('error', (error) => { this.status ??= { code: null, signal: null, error }; resolve(this.status); });
      proc.once('exit', (code, signal) => { this.status ??= { code, signal }; resolve(this.status); });
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
    return status;
  }
}

/** "exited with code 1", "killed by SIGKILL", "could not start: spawn prometheus ENOENT". */
export function describeExit(status: ExitStatus | undefined): string {
  if (!status) return 'still running';
  if (status.error) return `could not start: ${status.error.message}`;
  return status.signal ? `killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** The binary of a component: PERCOLATE_<NAME>_BIN overrides PATH (e.g. PERCOLATE_NATS_SERVER_BIN). */
export function binary(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return env[`PERCOLATE_${name.toUpperCase().replace(/-/g, '_')}_BIN`] || name;
}

export function spawnChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, log: string, ports: number[] = []): Child {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  try {
    const proc = spawn(command, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', fd, fd] });
    return new Child(name, proc, log, ports);
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
