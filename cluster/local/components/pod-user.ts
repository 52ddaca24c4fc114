import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ChildUser } from '../process/child.ts';

/** A container's user as the manifests give it, with the group its volumes belong to. */
export interface PodUser extends ChildUser { fsGroup?: number }

/** Whether the pods can run as the manifests' users here; if not, why not (they then run as ours). */
export type PodUserSupport = { enforced: true } | { enforced: false; reason: string };

/** Whether `user` may enter `dir` (search permission), by the owner, group or other bits. */
function canSearch(dir: string, user: ChildUser): boolean {
  const st = statSync(dir);
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** The first directory on the way to `path` (itself included) that `user` cannot enter. */
function blockedOnTheWay(path: string, user: ChildUser): string | undefined {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (!canSearch(dir, user)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * A kubelet starts a container as its `runAsUser`; the local runtime can do the same only
 * as root, and only where that user can reach the code and the pods' directories.
 */
export function podUserSupport(user: ChildUser | undefined, paths: { code: string; pods: string }): PodUserSupport {
  if (!user) return { enforced: false, reason: 'the manifests give the containers no runAsUser' };
  const uid = process.getuid?.();
  if (uid !== 0) return { enforced: false, reason: `the local runtime is not root (uid ${uid ?? 'unknown'}), so pods run as its own user, not as uid ${user.uid}` };
  for (const [what, path] of Object.entries(paths)) {
    const blocked = blockedOnTheWay(path, user);
    if (blocked) return { enforced: false, reason: `uid ${user.uid} cannot enter ${blocked} (on the way to the ${what} at ${path}), so pods run as root; allow it search permission (chmod o+x) to run them as the manifests' user` };
  }
  return { enforced: true };
}

/**
 * The pod's own directory as its user's, before its container starts: a temp dir and home
 * of its own, and the secret mounted as a Secret volume is (group fsGroup, mode 0440).
 * Returns the environment that points the container at them.
 */
export function preparePodDir(dir: string, user: PodUser, secretsFile: string): NodeJS.ProcessEnv {
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  for (const d of [dir, tmp]) {
    chownSync(d, user.uid, user.gid);
    chmodSync(d, 0o700);
  }
  return { TMPDIR: tmp, HOME: dir, PERCOLATE_SECRETS_FILE: mountPodSecret(dir, user, secretsFile) };
}

/**
 * The secret in the pod's directory, readable by its group only; written again when the
 * secret changes (a rotation), in one step as a kubelet swaps a Secret volume's files, so
 * the pod reads the old file or the new one, never half of one.
 */
export function mountPodSecret(dir: string, user: PodUser, secretsFile: string): string {
  const secrets = join(dir, 'secrets.json');
  const next = `${secrets}.next`;
  copyFileSync(secretsFile, next);
  chownSync(next, 0, user.fsGroup ?? user.gid);
  chmodSync(next, 0o440);
  renameSync(next, secrets);
  return secrets;
}

/** The real user and group of a running process (Linux), as a pod's `id` would print them. */
export function processUser(pid: number): ChildUser | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    const gid = /^Gid:\s+(\d+)/m.exec(status)?.[1];
    return uid === undefined || gid === undefined ? undefined : { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}
