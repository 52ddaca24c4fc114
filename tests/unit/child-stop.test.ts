import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { scratchDir } from '../helpers/processes.ts';

// What the kernel shows of a killed group is a race no real process loses reliably (HAProxy's
// worker outlives its master by a moment, sometimes): the group's presence is scripted here.
const groupAlive = vi.hoisted(() => ({ probesLeft: 0, probes: 0 }));
vi.mock('../../cluster/local/process/proc-identity.ts', async (importOriginal) => ({
  ...await importOriginal<typeof import('../../cluster/local/process/proc-identity.ts')>(),
  groupExists: () => {
    groupAlive.probes += 1;
    return groupAlive.probesLeft-- > 0;
  },
}));
const { spawnChild } = await import('../../cluster/local/process/child.ts');

describe('Child.stop', () => {
  const scratch = scratchDir('child-stop');
  afterAll(() => scratch.cleanup());

  it('resolves once no process of its group is left, not when the process itself has exited', async () => {
    const child = spawnChild('forked', process.execPath, ['-e', "console.log('up'); setInterval(() => {}, 1000)"], { PATH: process.env.PATH }, join(scratch.dir, 'logs', 'forked.log'));
    await expect.poll(() => child.output, { timeout: 10_000 }).toBe('up\n');
    // A forked process of the group, still there for three looks after the child is gone.
    groupAlive.probesLeft = 3;
    groupAlive.probes = 0;
    await child.stop(2_000);
    expect(groupAlive.probes, 'looks at the group before the stop resolved').toBe(4);
  });

  it('does not fail the teardown for a group that outlives its bound', async () => {
    const child = spawnChild('stuck', process.execPath, ['-e', "console.log('up'); setInterval(() => {}, 1000)"], { PATH: process.env.PATH }, join(scratch.dir, 'logs', 'stuck.log'));
    await expect.poll(() => child.output, { timeout: 10_000 }).toBe('up\n');
    groupAlive.probesLeft = Number.POSITIVE_INFINITY;
    try {
      await expect(child.stop(2_000)).resolves.toMatchObject({ signal: 'SIGTERM' });
    } finally {
      groupAlive.probesLeft = 0;
    }
  });
});
