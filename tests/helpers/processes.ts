import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { Fatal, eventually } from '../../lib/poll.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A child process in its own process group, its output kept in a file and in memory. */
export class ManagedProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess, readonly logFile: string) {
    const log = createWriteStream(logFile, { flags: 'a' });
    const keep = (chunk: Buffer) => { this.output += chunk.toString(); log.write(chunk); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = once(child, 'exit').then(([code, signal]) => { log.end(); return { code, signal }; }) as never;
  }

  get logs(): string { return this.output; }

  /** JSON log lines, parsed; other lines skipped. */
  jsonLogs(): Record<string, unknown>[] {
    return this.output.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try { return [JSON.parse(line) as Record<string, unknown>]; } catch { return []; }
    });
  }

  get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    try { process.kill(-this.child.pid!, signal); } catch { return; }
    const timer = setTimeout(() => { try { process.kill(-this.child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function startProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): ManagedProcess {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  return new ManagedProcess(name, child, join(logDir, `${name}.log`));
}

/** A scratch directory for one test file, removed by `cleanup()`. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `percolate-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real nats-server with JetStream, its store in `storeDir` so a restart keeps the streams. */
export class NatsServer {
  process!: ManagedProcess;
  private constructor(readonly port: number, readonly monitorPort: number, readonly storeDir: string, private readonly logDir: string) {}

  static async start(workDir: string): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), await freePort(), join(workDir, 'jetstream'), workDir);
    await server.restart();
    return server;
  }

  get url(): string { return `nats://127.0.0.1:${this.port}`; }

  async restart(): Promise<void> {
    this.process = startProcess('nats-server', 'nats-server',
      ['-a', '127.0.0.1', '-p', String(this.port), '-m', String(this.monitorPort), '-js', '-sd', this.storeDir], {}, this.logDir);
    await eventually('nats-server healthy', async () => (await fetch(`http://127.0.0.1:${this.monitorPort}/healthz?js-enabled-only=true`)).status,
      (status) => status === 200, { timeoutMs: 10_000, intervalMs: 50 });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> { await this.process?.stop(signal); }
}

export type ServiceName = 'db-node' | 'worker' | 'gateway';

/** One reference service run as a process, the way a pod runs it. */
export class ServiceProcess {
  process!: ManagedProcess;
  /** 0 until the first start has bound one; restarts keep it, as a pod keeps its address. */
  port = 0;
  private constructor(readonly service: ServiceName, readonly name: string, private env: NodeJS.ProcessEnv, private readonly logDir: string) {}

  static async start(service: ServiceName, name: string, env: NodeJS.ProcessEnv, logDir: string, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
    const svc = new ServiceProcess(service, name, { ...env, POD_NAME: name }, logDir);
    await svc.restart(opts);
    return svc;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  private get portFile(): string { return join(this.logDir, `${this.name}.port.json`); }

  /** Starts the process; resolves once it has bound its port (and, by default, is ready). */
  async restart(opts: { waitReady?: boolean } = {}): Promise<void> {
    const entry = join(REPO_ROOT, 'reference-services', this.service, 'main.ts');
    rmSync(this.portFile, { force: true });
    // The first start binds port 0 and reports what it got: no port is chosen here and bound there.
    this.process = startProcess(this.name, process.execPath, ['--import', 'tsx', entry],
      { ...this.env, PORT: String(this.port), PORT_FILE: this.portFile }, this.logDir);
    const pid = this.process.child.pid;
    this.port = (await eventually(`${this.name} listening`, () => {
      if (!this.process.running) throw new Fatal(`${this.name} exited:\n${this.process.logs.slice(-2000)}`);
      try {
        const report = JSON.parse(readFileSync(this.portFile, 'utf8')) as { port: number; pid: number };
        return report.pid === pid ? report.port : undefined;
      } catch {
        return undefined;
      }
    }, (port) => port !== undefined, { timeoutMs: 20_000, intervalMs: 20 }))!;
    if (opts.waitReady !== false) await this.waitReady();
  }

  /** Ready, and answering as itself: a port some other process holds is not this service. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    await eventually(`${this.name} ready`, async () => {
      if (!this.process.running) throw new Fatal(`${this.name} exited:\n${this.process.logs.slice(-2000)}`);
      const res = await fetch(`${this.url}/ready`);
      const servedBy = res.headers.get('x-served-by');
      if (servedBy !== this.name) throw new Error(`${this.url} answers as ${servedBy ?? 'something else'}, not ${this.name}`);
      return res.status;
    }, (status) => status === 200, { timeoutMs, intervalMs: 50 });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> { await this.process?.stop(signal); }
}
