import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DB_SMALL, GATEWAY, WORKER_SMALL } from '../../../lib/names.ts';
import type { ProfileName } from '../../../lib/time.ts';
import { LocalClusterTarget } from './client.ts';
import { type UpOptions, upLocalCluster } from '../control/launcher.ts';
import { STATE_DIR_PREFIX, runDirParent } from '../process/paths.ts';
import { currentProcess } from '../process/proc-identity.ts';

/**
 * Starts a local cluster the testcontainers way:
 *
 *   await using cluster = await new LocalClusterBuilder().withProfile('fast').withDbReplicas(1).withWorkers(0).start();
 *   fetch(`${cluster.getLoadBalancerUrl()}/api/v1/resources`, …)
 *
 * Each started cluster has its own state dir (a temp dir unless `withStateDir`), so tests
 * never touch the cluster a person started with the CLI; `close()` (or `await using`)
 * stops it and removes everything.
 */
export class LocalClusterBuilder {
  private profile: ProfileName = 'fast';
  private readonly replicas: Record<string, number> = {};
  private stateDir: string | undefined;
  private onProgress: UpOptions['onProgress'];
  private timeoutMs: number | undefined;
  private signal: AbortSignal | undefined;

  withProfile(profile: ProfileName): this { this.profile = profile; return this; }
  withDbReplicas(n: number): this { return this.withReplicas(DB_SMALL, n); }
  /** The small tier's workers; other tiers' through withReplicas(workerWorkload(tier), n). */
  withWorkers(n: number): this { return this.withReplicas(WORKER_SMALL, n); }
  withGateways(n: number): this { return this.withReplicas(GATEWAY, n); }
  /** Replicas at start for any workload of the manifests (the manifests' own count otherwise). */
  withReplicas(workload: string, n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new Error(`replicas of ${workload} must be a non-negative integer, got ${n}`);
    this.replicas[workload] = n;
    return this;
  }
  withStateDir(dir: string): this { this.stateDir = dir; return this; }
  withProgress(onProgress: NonNullable<UpOptions['onProgress']>): this { this.onProgress = onProgress; return this; }
  withStartupTimeout(ms: number): this { this.timeoutMs = ms; return this; }
  withAbortSignal(signal: AbortSignal): this { this.signal = signal; return this; }

  async start(): Promise<LocalClusterTarget> {
    const ownDir = this.stateDir === undefined;
    const stateDir = this.stateDir ?? mkdtempSync(join(runDirParent(), STATE_DIR_PREFIX));
    const removeOwnDir = () => { if (ownDir) rmSync(stateDir, { recursive: true, force: true }); };
    try {
      const { state } = await upLocalCluster({
        stateDir, profile: this.profile, replicas: this.replicas, owner: currentProcess(),
        ...(this.onProgress ? { onProgress: this.onProgress } : {}),
        ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}),
        ...(this.signal ? { signal: this.signal } : {}),
      });
      return new LocalClusterTarget(state, stateDir, true, removeOwnDir);
    } catch (err) {
      removeOwnDir();
      throw err;
    }
  }
}
