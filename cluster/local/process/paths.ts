import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harnessConfig } from '../../../lib/config.ts';

/** Every process of a run carries this variable, so a sweep can find it even if no record survived. */
export const RUN_MARKER_ENV = 'PERCOLATE_RUN_DIR';

/** Run directories are `mkdtemp(<tmp>/percolate-run-XXXXXX)`; the sweep looks for this prefix. */
export const RUN_DIR_PREFIX = 'percolate-run-';
export const runDirParent = (): string => tmpdir();
/**
 * A run of the project's own tests (`npm test`) keeps every temp dir under one
 * `<tmp>/percolate-tests-XXXXXX` (its TMPDIR) and marks every process it starts with this
 * variable, so the next run can sweep what a killed one left.
 */
export const TEST_RUN_MARKER_ENV = 'PERCOLATE_TEST_RUN_DIR';
export const TEST_RUN_DIR_PREFIX = 'percolate-tests-';
/** State dirs the builder makes for tests; a sweep removes them with their dead run. */
export const STATE_DIR_PREFIX = 'percolate-state-';

/**
 * Where the state of the local cluster is kept between commands: one cluster per state
 * directory. The CLI uses the repository's `.percolate/local` (or PERCOLATE_LOCAL_STATE_DIR,
 * read by lib/config.ts); tests pass their own so they never touch a cluster a person
 * started by hand.
 */
export function defaultStateDir(): string {
  return harnessConfig().localStateDir;
}

export const stateFile = (stateDir: string): string => join(stateDir, 'state.json');
export const ownerFile = (runDir: string): string => join(runDir, 'owner.json');
export const logDir = (runDir: string): string => join(runDir, 'logs');
export const logFile = (runDir: string, name: string): string => join(runDir, 'logs', `${name}.log`);
