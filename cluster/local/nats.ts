import { join } from 'node:path';
import { type Child, binary, describeExit, spawnChild } from './child.ts';
import type { ChildRegistry } from './child-registry.ts';
import { Fatal, freePort, pollUntil } from './net-util.ts';
import { logFile } from './paths.ts';

/** nats-server with JetStream, its file store under the run dir so a restart keeps the streams. */
export class LocalNats {
  child!: Child;
  private constructor(readonly port: number, readonly monitorPort: number, readonly storeDir: string, private readonly runDir: string, private readonly env: NodeJS.ProcessEnv, private readonly registry: ChildRegistry) {}

  static async start(runDir: string, env: NodeJS.ProcessEnv, registry: ChildRegistry): Promise<LocalNats> {
    const nats = new LocalNats(await freePort(), await freePort(), join(runDir, 'jetstream'), runDir, env, registry);
    await nats.restart();
    return nats;
  }

  get url(): string { return `nats://127.0.0.1:${this.port}`; }
  get monitoringUrl(): string { return `http://127.0.0.1:${this.monitorPort}`; }
  get log(): string { return logFile(this.runDir, 'nats-server'); }

  /** (Re)starts on the same ports and store: what a NATS outage test needs after stopping it. */
  async restart(): Promise<void> {
    this.child = this.registry.track(spawnChild('nats-server', binary('nats-server'),
      ['-a', '127.0.0.1', '-p', String(this.port), '-m', String(this.monitorPort), '-js', '-sd', this.storeDir], this.env, this.log,
      [this.port, this.monitorPort]));
    await pollUntil('nats-server healthy', 10_000, async () => {
      if (!this.child.running) throw new Fatal(describeExit(this.child.exitStatus));
      return (await fetch(`${this.monitoringUrl}/healthz?js-enabled-only=true`)).ok;
    }, 20);
  }

  async stop(graceMs = 5_000): Promise<void> { await this.child?.stop(graceMs); }
}
