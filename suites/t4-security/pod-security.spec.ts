import { renderOverlay } from '../../cluster/manifests/render.ts';
import { workloads } from '../../cluster/manifests/workloads.ts';
import { DB_SMALL, WORKER_SMALL } from '../../lib/names.ts';
import { skipUnless } from '../../cluster/target.ts';
import { measure } from '../lib/measure.ts';
import { expect, test } from '../fixtures/index.ts';

type Json = any;

/** What the *restricted* Pod Security Standard asks of a pod and each of its containers. */
function restrictedViolations(kind: string, name: string, pod: Json): string[] {
  const out: string[] = [];
  const podCtx = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push(`${kind}/${name}: host namespaces`);
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const ctx = c.securityContext ?? {};
    const where = `${kind}/${name}/${c.name}`;
    if ((ctx.runAsNonRoot ?? podCtx.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot is not true`);
    if ((ctx.runAsUser ?? podCtx.runAsUser) === 0) out.push(`${where}: runAsUser 0`);
    if (ctx.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem is not true`);
    if (ctx.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
    if (ctx.privileged === true) out.push(`${where}: privileged`);
    const drop: string[] = ctx.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) out.push(`${where}: capabilities do not drop ALL`);
    if ((ctx.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE')) out.push(`${where}: adds capabilities`);
    const seccomp = ctx.seccompProfile?.type ?? podCtx.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${where}: seccomp is not RuntimeDefault`);
  }
  return out;
}

/**
 * T4.4: every workload of the rendered manifests meets the restricted Pod Security
 * Standard. The live pods are checked where a kubelet enforces security contexts
 * (`podSecurity`): a cluster's admitted pods, or the local runtime's processes when it runs
 * them as the manifests' users (as root); elsewhere that step is skipped with the reason.
 */
test.describe('T4.4 pod security', () => {
  test('T4.4 every workload meets the restricted Pod Security Standard @pr', async ({ cluster, profile, pools }) => {
    const m = await test.step('setup: render the manifests of the profile', async () => renderOverlay(profile));
    await test.step('assess: each pod template, each container', async () => {
      const workloads = m.objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind));
      expect(workloads.length).toBeGreaterThanOrEqual(5);
      const violations = workloads.flatMap((w: Json) => restrictedViolations(w.kind, w.metadata.name, w.spec.template.spec));
      measure(test.info(), 'workloads checked', workloads.length, 'workloads', { op: '>=', value: 5, source: 'docs/design.md §2 workloads' });
      measure(test.info(), 'restricted PSS violations', violations.length, 'violations', { op: '==', value: 0, source: 'seed 003 T4.4' });
      expect(violations).toEqual([]);
    });
    await test.step('assess: the live pods run as the manifests\' users, none as root (targets that start them so)', async () => {
      const s = skipUnless(cluster, 'podSecurity');
      if (s.skip) {
        test.info().annotations.push({ type: 'live pods', description: `not checked: ${s.reason}` });
        return;
      }
      // One pod of each of our services, so every workload kind is seen running.
      await Promise.all([pools.hold(DB_SMALL, 1), pools.hold(WORKER_SMALL, 1)]);
      const expected = new Map(workloads(m).map((w) => [w.name, w.runAs]));
      const pods = (await cluster.listPods()).filter((p) => expected.has(p.workload) && p.phase === 'Running' && !p.terminating);
      const wrong = pods.filter((p) => !p.user || p.user.uid === 0 || p.user.uid !== expected.get(p.workload)?.uid || p.user.gid !== expected.get(p.workload)?.gid)
        .map((p) => `${p.name}: runs as ${p.user ? `${p.user.uid}:${p.user.gid}` : 'unknown'}, manifests say ${expected.get(p.workload)?.uid}:${expected.get(p.workload)?.gid}`);
      measure(test.info(), 'live pods checked', pods.length, 'pods', { op: '>=', value: 3, source: 'a db-node, a worker and a gateway at least' });
      measure(test.info(), 'live pods not running as the manifests\' user', wrong.length, 'pods', { op: '==', value: 0, source: 'seed 003 T4.4: non-root, as the securityContext says' });
      expect(wrong).toEqual([]);
    });
  });
});
