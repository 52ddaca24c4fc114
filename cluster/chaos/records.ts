import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Flow, NetworkFault } from '../local/network/sidecar.ts';
import type { ChaosKind, ChaosResource } from './types.ts';

/** One thing an experiment did, with what undoing it takes. */
export type Step =
  | { type: 'network'; pod: string; link: string; flow: Flow; fault: NetworkFault }
  /** One-shot: the controller recreates the pod; nothing to undo. */
  | { type: 'pod-kill'; pod: string; gracePeriodSeconds: number }
  /** One-shot: the container restarts in place; nothing to undo. */
  | { type: 'container-kill'; pod: string; container: string }
  /** Undone by starting the container again. */
  | { type: 'pod-failure'; pod: string }
  /** Undone by uncordoning (evicted pods stay where they went). */
  | { type: 'node-drain'; node: string }
  /** Stress workers in the pod's cgroup; undone by ending them and taking the pod out of the cgroup. */
  | { type: 'stress'; pod: string; cgroup: string; cpu?: { workers: number; load: number }; memory?: { workers: number; bytes: number; oomScoreAdj?: number } };

export type ExperimentPhase =
  /** Faults in force until the duration ends or someone recovers it. */
  | 'injected'
  /** A workflow whose nodes are still running. */
  | 'running'
  /** One-shot actions done, or a workflow that ran to its end: nothing left to undo. */
  | 'finished'
  | 'recovered'
  /** Could not be applied; whatever was applied has been undone. */
  | 'failed';

export type RecoveredBy = 'duration' | 'request' | 'workflow' | 'restart';

/** What the executor keeps per experiment, in memory and as `<run dir>/chaos/<namespace>.<name>.json`. */
export interface ExperimentRecord {
  /** `<namespace>/<name>`. */
  id: string;
  name: string;
  namespace: string;
  kind: ChaosKind;
  action?: string;
  /** The file it came from, when it came from one. */
  source?: string;
  /** The workflow that started it. */
  parent?: string;
  phase: ExperimentPhase;
  appliedAt: number;
  durationMs?: number;
  /** When its duration ends and the executor recovers it. */
  endsAt?: number;
  recoveredAt?: number;
  recoveredBy?: RecoveredBy;
  /** The pods, nodes or zones it picked. */
  selected: string[];
  steps: Step[];
  /** What went wrong while applying or undoing, or an asynchronous part (a drain) that failed. */
  errors: string[];
  resource: ChaosResource;
}

/** Records as files in the run dir, so a run's chaos history can be read from outside the daemon. */
export class RecordStore {
  readonly dir: string;

  constructor(runDir: string) {
    this.dir = join(runDir, 'chaos');
  }

  private file(record: Pick<ExperimentRecord, 'namespace' | 'name'>): string {
    return join(this.dir, `${record.namespace}.${record.name}.json`);
  }

  save(record: ExperimentRecord): void {
    mkdirSync(this.dir, { recursive: true });
    const file = this.file(record);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(record, null, 2));
    renameSync(tmp, file);
  }

  load(): ExperimentRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const records: ExperimentRecord[] = [];
    for (const n of names) {
      try {
        records.push(JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as ExperimentRecord);
      } catch {
        // A record cut short by a crash: nothing it names can be undone from it.
      }
    }
    return records;
  }
}
