import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processIdentity } from '../../cluster/local/process/proc-identity.ts';
import { type LocalState, writeState } from '../../cluster/local/process/state.ts';
import { attachLocalCluster } from '../../cluster/local/target/client.ts';
import { NoClusterError } from '../../cluster/target.ts';
import { ConfigError, binaryFor, readConfig, runChoiceOf } from '../../lib/config.ts';
import { REPO_ROOT } from '../../lib/repo.ts';

describe('lib/config.ts: the environment, read once', () => {
  it('defaults: the local target, the fast profile, the repository\'s state dir, the report checked', () => {
    expect(readConfig({})).toMatchObject({
      target: 'local', profile: 'fast', localStateDir: join(REPO_ROOT, '.percolate', 'local'), reportCheck: true,
      kube: { namespace: 'percolate', endpoints: {} }, t5Fault: undefined, secretsFile: undefined, binaries: {},
    });
  });

  it('takes each PERCOLATE_* value it knows; an empty one counts as unset', () => {
    const c = readConfig({
      PERCOLATE_TARGET: 'kube', PERCOLATE_PROFILE: 'realistic', PERCOLATE_LOCAL_STATE_DIR: '/tmp/s', PERCOLATE_REPORT_CHECK: '0',
      PERCOLATE_LB_URL: 'http://127.0.0.1:8080', PERCOLATE_NAMESPACE: 'staging', PERCOLATE_T5_FAULT: 'chaos/db-slow-network-delay.yaml',
      PERCOLATE_PROMETHEUS_BIN: '/bin/false', PERCOLATE_SECRETS_FILE: '',
    });
    expect(c).toMatchObject({
      target: 'kube', profile: 'realistic', localStateDir: '/tmp/s', reportCheck: false, secretsFile: undefined,
      kube: { namespace: 'staging', endpoints: { loadBalancerUrl: 'http://127.0.0.1:8080' } }, t5Fault: 'chaos/db-slow-network-delay.yaml',
    });
    expect(binaryFor('prometheus', c)).toBe('/bin/false');
    expect(binaryFor('nats-server', c)).toBe('nats-server');
    expect(readConfig({ PERCOLATE_TARGET: '' }).target).toBe('local');
  });

  it('a bad value names the valid ones; every bad value at once', () => {
    expect(() => readConfig({ PERCOLATE_TARGET: 'minikube' })).toThrow(new ConfigError('PERCOLATE_TARGET must be one of local, k3s, kube, got "minikube"'));
    let err: unknown;
    try { readConfig({ PERCOLATE_PROFILE: 'slow', PERCOLATE_LB_URL: 'lb:8080', PERCOLATE_REPORT_CHECK: 'maybe' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message.split('\n')).toEqual([
      'PERCOLATE_PROFILE must be one of fast, realistic, got "slow"',
      'PERCOLATE_LB_URL must be a URL (e.g. http://127.0.0.1:8080), got "lb:8080"',
      'PERCOLATE_REPORT_CHECK must be one of 0, 1, false, true, got "maybe"',
    ]);
  });

  it('a run\'s recorded choice (Playwright metadata) is checked the same way', () => {
    expect(runChoiceOf({ target: 'k3s', profile: 'realistic' })).toEqual({ target: 'k3s', profile: 'realistic' });
    expect(() => runChoiceOf({ target: 'docker', profile: 'fast' })).toThrow(/metadata.target must be one of local, k3s, kube, got "docker"/);
  });
});

describe('attachLocalCluster: the one attach', () => {
  const dirs: string[] = [];
  const stateDir = () => { const d = mkdtempSync(join(tmpdir(), 'percolate-attach-')); dirs.push(d); return d; };
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  // This test process stands in for a live daemon: attach only reads the state file.
  const state = (over: Partial<LocalState>): LocalState => ({
    version: 1, phase: 'ready', daemon: { pid: process.pid, identity: processIdentity(process.pid)!, log: '/dev/null' }, runDir: '/nowhere',
    profile: 'fast', startedAt: Date.now(), control: { url: 'http://127.0.0.1:1', token: 't' }, secretsFile: '/nowhere/secrets.json',
    processes: [], ports: [], ...over,
  });

  it('refuses when nothing runs, saying how to start one', () => {
    const dir = stateDir();
    expect(() => attachLocalCluster(dir)).toThrow(NoClusterError);
    expect(() => attachLocalCluster(dir)).toThrow(`no local cluster is running (state dir ${dir}): start one with \`npx percolate test-topology up\``);
  });

  it('refuses a cluster whose owner is gone, and one still starting (unless any phase is asked for)', async () => {
    const gone = spawn('true');
    const owner = { pid: gone.pid!, identity: processIdentity(gone.pid!) ?? 'gone' };
    await new Promise((r) => gone.on('exit', r));
    const orphan = stateDir();
    writeState(orphan, state({ owner }));
    expect(() => attachLocalCluster(orphan)).toThrow(`the local cluster in ${orphan} belonged to a run that is gone (pid ${owner.pid}); it will be swept`);

    const starting = stateDir();
    writeState(starting, state({ phase: 'starting' }));
    expect(() => attachLocalCluster(starting)).toThrow(/is starting: wait for it/);
    expect(attachLocalCluster(starting, { anyPhase: true }).state.phase).toBe('starting');
  });

  it('attaches to a ready cluster of a live owner; closing it leaves the cluster alone', async () => {
    const dir = stateDir();
    writeState(dir, state({ owner: { pid: process.pid, identity: processIdentity(process.pid)! } }));
    const target = attachLocalCluster(dir);
    expect(target.stateDir).toBe(dir);
    await target.close();
  });
});
