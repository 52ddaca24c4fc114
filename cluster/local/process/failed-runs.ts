import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { logDir } from './paths.ts';

const KEEP_FAILED_RUNS = 5;

/** Copies a failed run's logs under the state dir (the run dir itself is removed) and prunes old copies. */
export function preserveLogs(runDir: string, stateDir: string): string | undefined {
  if (!existsSync(logDir(runDir))) return undefined;
  try {
    const parent = join(stateDir, 'failed-runs');
    const dest = join(parent, new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(parent, { recursive: true });
    cpSync(logDir(runDir), join(dest, 'logs'), { recursive: true });
    const old = readdirSync(parent).sort().slice(0, -KEEP_FAILED_RUNS);
    for (const o of old) rmSync(join(parent, o), { recursive: true, force: true });
    return join(dest, 'logs');
  } catch {
    return undefined;
  }
}
