import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { podUserSupport, preparePodDir, processUser } from '../../cluster/local/components/pod-user.ts';
import { spawnChild } from '../../cluster/local/process/child.ts';
import { REPO_ROOT } from '../../lib/repo.ts';

const USER = { uid: 10001, gid: 10001, fsGroup: 10001 };
const asRoot = process.getuid?.() === 0;

// Pods run as the manifests' users where the runtime can start them so (T4.4 on the local target).
describe('pods as the manifests\' users', () => {
  const dirs: string[] = [];
  const scratch = (mode: number) => {
    const d = mkdtempSync(join(tmpdir(), 'pod-user-'));
    chmodSync(d, mode);
    dirs.push(d);
    return d;
  };
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('without a runAsUser in the manifests, nothing is enforced, and it says so', () => {
    expect(podUserSupport(undefined, { code: REPO_ROOT, pods: tmpdir() })).toEqual({ enforced: false, reason: 'the manifests give the containers no runAsUser' });
  });

  it.skipIf(!asRoot)('as root: enforced where the user can reach the code and the pods\' dirs; a closed dir on the way is named', () => {
    // Not the repository itself: a clone may sit under a closed dir (mktemp -d is 0700).
    const code = scratch(0o755);
    const open = scratch(0o711);
    expect(podUserSupport(USER, { code, pods: open })).toEqual({ enforced: true });
    const closed = scratch(0o700);
    mkdirSync(join(closed, 'pods'));
    const support = podUserSupport(USER, { code, pods: join(closed, 'pods') });
    expect(support.enforced).toBe(false);
    expect(!support.enforced && support.reason).toBe(`uid 10001 cannot enter ${closed} (on the way to the pods at ${join(closed, 'pods')}), so pods run as root; allow it search permission (chmod o+x) to run them as the manifests' user`);
  });

  it.skipIf(asRoot)('not as root: not enforced, with the reason', () => {
    const support = podUserSupport(USER, { code: REPO_ROOT, pods: tmpdir() });
    expect(!support.enforced && support.reason).toMatch(/not root/);
  });

  it.skipIf(!asRoot)('a container started as the user runs as it, reads its secret (0440, group fsGroup), and can change neither it nor the code', async () => {
    const pods = scratch(0o711);
    const dir = join(pods, 'pod-0');
    mkdirSync(dir);
    const secrets = join(pods, 'secrets.json');
    writeFileSync(secrets, '{"k":1}', { mode: 0o600 });
    const env = preparePodDir(dir, USER, secrets);
    expect(statSync(env.PERCOLATE_SECRETS_FILE!)).toMatchObject({ uid: 0, gid: 10001, mode: 0o100440 });
    const script = 'const fs=require("fs");let w="written";try{fs.appendFileSync(process.env.PERCOLATE_SECRETS_FILE,"x")}catch(e){w=e.code}'
      + `;let c="written";try{fs.writeFileSync(${JSON.stringify(join(REPO_ROOT, 'pod-user-probe'))},"x")}catch(e){c=e.code}`
      + ';fs.writeFileSync(require("path").join(process.env.TMPDIR,"t"),"ok");console.log(process.getuid(),process.getgid(),fs.readFileSync(process.env.PERCOLATE_SECRETS_FILE,"utf8"),w,c)';
    const child = spawnChild('pod-0', process.execPath, ['-e', script], { PATH: process.env.PATH, ...env }, join(pods, 'pod-0.log'), [], USER);
    expect(processUser(child.pid)).toEqual({ uid: 10001, gid: 10001 });
    await child.exited;
    expect(execFileSync('cat', [join(pods, 'pod-0.log')], { encoding: 'utf8' }).trim()).toBe('10001 10001 {"k":1} EACCES EACCES');
  });
});
