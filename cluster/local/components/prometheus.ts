import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type Child, binary, spawnChild, whenHealthy } from '../process/child.ts';
import type { ChildRegistry } from '../process/child-registry.ts';
import { logFile } from '../process/paths.ts';

/** One file_sd target group: addresses and the labels Kubernetes SD would have given them. */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

/** The port of Prometheus's `msg="Listening on" address=127.0.0.1:<port>` log line, if it has written it. */
function listeningPort(output: string): number | undefined {
  const match = /msg="Listening on" address=127\.0\.0\.1:(\d+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

/** The file_sd jobs: pods of each service and the runtime's own exporters. */
export const SCRAPE_JOBS = ['db-node', 'worker', 'gateway', 'activator', 'haproxy'] as const;
export type ScrapeJob = (typeof SCRAPE_JOBS)[number];

/**
 * Prometheus scraping every pod through file_sd: the runtime rewrites one JSON file per job
 * (tmp + rename, so Prometheus never reads half a file) as pods come and go.
 */
export class LocalPrometheus {
  child!: Child;
  private readonly targets = new Map<ScrapeJob, Map<string, ScrapeTarget>>();
  private writeTimer: NodeJS.Timeout | undefined;
  private readonly dirty = new Set<ScrapeJob>();

  /** 0 until the first start has bound one and reported it; a restart listens on it again. */
  private boundPort = 0;

  private constructor(private readonly dir: string, private readonly runDir: string) {}

  get port(): number {
    if (!this.boundPort) throw new Error('prometheus has no port before it has started');
    return this.boundPort;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get log(): string { return logFile(this.runDir, 'prometheus'); }
  private sdFile(job: ScrapeJob): string { return join(this.dir, 'targets', `${job}.json`); }

  static async start(runDir: string, scrapeIntervalSeconds: number, env: NodeJS.ProcessEnv, registry: ChildRegistry): Promise<LocalPrometheus> {
    const prom = new LocalPrometheus(join(runDir, 'prometheus'), runDir);
    mkdirSync(join(prom.dir, 'targets'), { recursive: true });
    for (const job of SCRAPE_JOBS) prom.flushJob(job);
    const config = {
      global: { scrape_interval: `${scrapeIntervalSeconds}s`, scrape_timeout: `${Math.round(Math.min(scrapeIntervalSeconds, 10) * 800)}ms`, evaluation_interval: `${scrapeIntervalSeconds}s` },
      scrape_configs: SCRAPE_JOBS.map((job) => ({
        job_name: job,
        file_sd_configs: [{ files: [prom.sdFile(job)], refresh_interval: '30s' }],
      })),
    };
    writeFileSync(prom.configFile, stringify(config));
    prom.child = await prom.launch(env, registry);
    return prom;
  }

  private get configFile(): string { return join(this.dir, 'prometheus.yml'); }

  /**
   * Starts the server on its config and data (first start and restarts alike); resolves once
   * it is ready. The first start binds port 0 and reads the port from its "Listening on"
   * line (info level, which logs little else), so no other process can hold it meanwhile.
   */
  async launch(env: NodeJS.ProcessEnv, registry: ChildRegistry): Promise<Child> {
    const child = registry.track(spawnChild('prometheus', binary('prometheus'), [
      `--config.file=${this.configFile}`,
      `--storage.tsdb.path=${join(this.dir, 'data')}`,
      '--storage.tsdb.retention.time=1d',
      `--web.listen-address=127.0.0.1:${this.boundPort}`,
      '--web.enable-lifecycle',
      '--log.level=info',
    ], env, this.log, this.boundPort ? [this.boundPort] : []));
    await whenHealthy(child, 'prometheus ready', 15_000, async () => {
      const port = this.boundPort || listeningPort(child.output);
      if (!port) return false;
      if (!(await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) return false;
      if (!this.boundPort) child.ports.push((this.boundPort = port));
      return true;
    });
    this.child = child;
    return child;
  }

  setTarget(job: ScrapeJob, id: string, target: ScrapeTarget): void {
    let jobTargets = this.targets.get(job);
    if (!jobTargets) this.targets.set(job, (jobTargets = new Map()));
    jobTargets.set(id, target);
    this.scheduleWrite(job);
  }

  removeTarget(job: ScrapeJob, id: string): void {
    if (this.targets.get(job)?.delete(id)) this.scheduleWrite(job);
  }

  /** The addresses in a job's file right now (what Prometheus will discover). */
  targetsOf(job: ScrapeJob): ScrapeTarget[] {
    return [...(this.targets.get(job)?.values() ?? [])];
  }

  private scheduleWrite(job: ScrapeJob): void {
    this.dirty.add(job);
    // Several pods change at once on a scale: one write for the batch.
    this.writeTimer ??= setTimeout(() => this.flush(), 20);
  }

  private flushJob(job: ScrapeJob): void {
    const groups = this.targetsOf(job).map((t) => ({ targets: [t.address], labels: t.labels }));
    const file = this.sdFile(job);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(groups, null, 1));
    renameSync(tmp, file);
  }

  /** Writes pending changes now (before shutdown or when a caller needs the file current). */
  flush(): void {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    for (const job of this.dirty) this.flushJob(job);
    this.dirty.clear();
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    await this.child?.stop(graceMs);
  }
}
