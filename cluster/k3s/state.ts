import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterEndpoints } from '../target.ts';
import { REPO_ROOT } from '../../lib/repo.ts';

/**
 * The k3s cluster a run's global setup started, for the test workers to attach to (one
 * cluster per run, however many workers come and go). Mode 600: the kubeconfig is admin.
 */
export interface K3sState { pid: number; kubeconfig: string; endpoints: ClusterEndpoints }

export const K3S_STATE_FILE = join(REPO_ROOT, '.percolate', 'k3s', 'state.json');

export function writeK3sState(state: K3sState, file = K3S_STATE_FILE): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
}

/** The state of a run whose process is still alive, or undefined. */
export function readK3sState(file = K3S_STATE_FILE): K3sState | undefined {
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as K3sState;
  try {
    process.kill(state.pid, 0);
    return state;
  } catch {
    return undefined;
  }
}

export function removeK3sState(file = K3S_STATE_FILE): void { rmSync(file, { force: true }); }
