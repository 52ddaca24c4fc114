import type { PodUserSupport } from '../components/pod-user.ts';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ProfileName } from '../../../lib/time.ts';
import type { ClusterEndpoints } from '../../target.ts';
import { ownerFile, stateFile } from './paths.ts';

/** A process the runtime started, with what a sweep needs to recognise and stop it. */
export interface RecordedProcess {
  name: string;
  pid: number;
  /** See processIdentity(): pid + start time, so a reused pid is never mistaken for ours. */
  identity: string;
  ports: number[];
  log: string;
}

/** The state file: enough to reach a running cluster, and to sweep a crashed one. */
export interface LocalState {
  version: 1;
  phase: 'starting' | 'ready' | 'stopping';
  daemon: { pid: number; identity: string; log: string };
  runDir: string;
  profile: ProfileName;
  startedAt: number;
  /** The daemon's control API (bearer token: the state file is readable by its owner only). */
  control?: { url: string; token: string };
  secretsFile: string;
  endpoints?: ClusterEndpoints;
  processes: RecordedProcess[];
  /** Ports the daemon listens on itself (control API, activator, sidecars). */
  ports: number[];
  /**
   * The process whose life bounds the cluster's (a test run that started it for itself);
   * absent for a cluster `up` started to keep. When it dies the daemon shuts down, and a
   * cluster whose owner is gone is never attached to: it is swept.
   */
  owner?: ProcessRef;
  /** Whether the pods run as the manifests' users, or why not. */
  podUsers?: PodUserSupport;
}

export interface ProcessRef { pid: number; identity: string }

/** Written into the run directory: who owns it, so a sweep from any state dir can judge it. */
export interface RunOwner {
  daemonPid: number;
  identity: string;
  stateDir: string;
}

function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export const readState = (stateDir: string): LocalState | undefined => readJson<LocalState>(stateFile(stateDir));
export const writeState = (stateDir: string, state: LocalState): void => writeJsonAtomic(stateFile(stateDir), state);
export const removeState = (stateDir: string): void => rmSync(stateFile(stateDir), { force: true });

export const readOwner = (runDir: string): RunOwner | undefined => readJson<RunOwner>(ownerFile(runDir));
export const writeOwner = (runDir: string, owner: RunOwner): void => writeJsonAtomic(ownerFile(runDir), owner);
