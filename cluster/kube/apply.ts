import { ApiextensionsV1Api, AppsV1Api, type KubeConfig, type KubernetesObject, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { WaitCheck } from '../k3s/plan.ts';
import { eventually } from '../../lib/poll.ts';

/** The field manager of everything this project applies (server-side apply owns those fields). */
export const FIELD_MANAGER = 'percolate';

/** `kubectl apply --server-side --force-conflicts`, object by object, in the given order. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    try {
      await api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw new Error(`applying ${object.kind}/${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name}: ${errorText(err)}`);
    }
  }
}

export function errorText(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try { return (JSON.parse(body) as { message?: string }).message ?? body; } catch { return body; }
  }
  return err instanceof Error ? err.message : String(err);
}

/** What is still missing for a check, or undefined once it holds. */
export async function unmet(kc: KubeConfig, check: WaitCheck): Promise<string | undefined> {
  switch (check.type) {
    case 'crds-established': {
      const crds = (await kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition()).items;
      const established = new Set(crds.filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')).map((c) => c.metadata?.name));
      const missing = check.names.filter((n) => !established.has(n));
      return missing.length ? `CRDs not established: ${missing.join(', ')}` : undefined;
    }
    case 'deployments-available': {
      const deployments = (await kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: check.namespace })).items;
      if (!deployments.length) return `no Deployment in ${check.namespace} yet`;
      const notAvailable = deployments.filter((d) => !d.status?.conditions?.some((x) => x.type === 'Available' && x.status === 'True'));
      return notAvailable.length ? `not available: ${notAvailable.map((d) => d.metadata?.name).join(', ')}` : undefined;
    }
    case 'workloads-ready': {
      const apps = kc.makeApiClient(AppsV1Api);
      const notReady: string[] = [];
      for (const w of check.workloads) {
        const o = w.kind === 'Deployment'
          ? await apps.readNamespacedDeployment({ name: w.name, namespace: check.namespace })
          : await apps.readNamespacedStatefulSet({ name: w.name, namespace: check.namespace });
        const want = o.spec?.replicas ?? 1;
        if ((o.status?.readyReplicas ?? 0) < want) notReady.push(`${w.kind}/${w.name} ${o.status?.readyReplicas ?? 0}/${want}`);
      }
      return notReady.length ? `not ready: ${notReady.join(', ')}` : undefined;
    }
  }
}

/**
 * Polls a check until it holds (the project's one poller); the error names the check, its
 * bound and what was still missing, or the API server's answer when the last look failed.
 */
export async function waitForCheck(kc: KubeConfig, what: string, check: WaitCheck, timeoutSeconds: number, everyMs = 2_000): Promise<void> {
  await eventually(what, async () => {
    try {
      return await unmet(kc, check);
    } catch (err) {
      throw new Error(errorText(err), { cause: err });
    }
  }, (missing) => missing === undefined, { timeoutMs: timeoutSeconds * 1000, intervalMs: everyMs });
}
