import { type Child, describeExit } from './child.ts';

/** How a supervised component is doing, as `status` shows it. */
export interface ComponentHealth {
  name: string;
  state: 'up' | 'down' | 'starting';
  /** Restarts after a crash (the first start is not one). */
  restarts: number;
  /** How its last process ended, once one has. */
  lastExit?: string;
  /** Since when it has been in this state (ms since the epoch). */
  since: number;
}

export interface SupervisorOptions {
  /** First delay before a restart; doubled per failed attempt up to `backoffMaxMs`, as a kubelet's back-off. */
  backoffMs: number;
  backoffMaxMs: number;
  /** After a successful restart: what must be replayed into the new process (HAProxy's servers). */
  onRestarted?: () => Promise<void>;
  /** The state changed (the daemon rewrites its state file). */
  onChange?: () => void;
  log: (message: string) => void;
}

/** Up this long after a restart and the next crash starts the back-off afresh. */
const STABLE_MS = 10_000;

/**
 * Keeps one of the cluster's own parts running (nats-server, Prometheus, HAProxy) the way
 * its StatefulSet or Deployment would: when its process dies it is down — and `status` says
 * so — and it is started again, on the same ports and data, with back-off. `launch` starts
 * a process and resolves once it is healthy (or rejects).
 */
export class Supervisor {
  private current: Child | undefined;
  private health: ComponentHealth;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private upSince = 0;

  constructor(readonly name: string, private readonly launch: () => Promise<Child>, private readonly options: SupervisorOptions) {
    this.health = { name, state: 'starting', restarts: 0, since: Date.now() };
    this.backoffMs = options.backoffMs;
  }

  get child(): Child | undefined { return this.current; }
  get status(): ComponentHealth { return { ...this.health }; }

  /** Takes over a process the component started itself (its first start, which `up` waited for). */
  adopt(child: Child): void {
    this.watch(child);
    this.set('up');
  }

  /** The first start: a failure here fails `up` (nothing is retried before the cluster was ever ready). */
  async start(): Promise<void> {
    this.watch(await this.launch());
    this.set('up');
  }

  /**
   * Stops the process on purpose and keeps it stopped (an outage a test makes) until
   * `resume()`; stopping the whole supervisor is `stop()`.
   */
  async pause(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.stop(graceMs, signal);
    this.set('down', 'stopped on request');
  }

  /** Starts it again after `pause()`, at once. */
  async resume(): Promise<void> {
    this.stopping = false;
    this.watch(await this.launch());
    this.set('up');
    await this.options.onRestarted?.();
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.stop(graceMs);
  }

  private watch(child: Child): void {
    this.current = child;
    this.upSince = Date.now();
    void child.exited.then((status) => {
      if (this.stopping || this.current !== child) return;
      const how = describeExit(status);
      this.options.log(`${this.name} ${how}: restarting`);
      this.set('down', how);
      if (Date.now() - this.upSince > STABLE_MS) this.backoffMs = this.options.backoffMs;
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs);
    this.timer = setTimeout(() => void this.restart(), delay);
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    this.set('starting');
    let child: Child;
    try {
      child = await this.launch();
    } catch (err) {
      this.options.log(`${this.name} restart failed: ${err instanceof Error ? err.message : String(err)}`);
      this.set('down', err instanceof Error ? err.message : String(err));
      if (!this.stopping) this.scheduleRestart();
      return;
    }
    if (this.stopping) { await child.stop(1_000); return; }
    this.health.restarts += 1;
    this.watch(child);
    this.set('up');
    this.options.log(`${this.name} up again (restart ${this.health.restarts})`);
    try {
      await this.options.onRestarted?.();
    } catch (err) {
      this.options.log(`${this.name}: replaying its state after the restart failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private set(state: ComponentHealth['state'], lastExit?: string): void {
    this.health = { ...this.health, state, since: Date.now(), ...(lastExit ? { lastExit } : {}) };
    this.options.onChange?.();
  }
}
