import { ApiextensionsV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { type Versions, loadVersions } from '../k3s/plan.ts';
import { errorText } from './apply.ts';

/** The cluster cannot be reached, or lacks what the suite needs: the message says what to do. */
export class KubePreflightError extends Error {
  override name = 'KubePreflightError';
}

/** Loads KUBECONFIG (or ~/.kube/config, or the in-cluster service account) and names the context. */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new KubePreflightError(`PERCOLATE_TARGET=kube: cannot read a kubeconfig (${errorText(err)}); set KUBECONFIG to your cluster's kubeconfig`);
  }
  if (!kc.getCurrentCluster()) throw new KubePreflightError(`PERCOLATE_TARGET=kube: no current cluster in ${env.KUBECONFIG ?? '~/.kube/config'}; set KUBECONFIG, or \`kubectl config use-context <name>\``);
  return kc;
}

/** Answers within `timeoutMs` whether the API server is there, with its version. */
export async function checkReachable(kc: KubeConfig, timeoutMs = 5_000): Promise<string> {
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  let timer: NodeJS.Timeout | undefined;
  try {
    const version = await Promise.race([
      kc.makeApiClient(VersionApi).getCode(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    return version.gitVersion;
  } catch (err) {
    throw new KubePreflightError(`PERCOLATE_TARGET=kube: the cluster at ${server} (context ${kc.getCurrentContext()}) is not reachable: ${errorText(err).split('\n')[0]}. Check KUBECONFIG and that the cluster is up (\`kubectl cluster-info\`).`);
  } finally {
    clearTimeout(timer);
  }
}

export interface MissingOperator { chart: string; crds: string[]; install: string }

/** `helm upgrade --install` with the pinned version: what a platform runs to add an operator. */
export function installHint(name: string, v: Versions): string {
  const pin = v.charts[name]!;
  return `helm upgrade --install ${name} ${pin.chart} --repo ${pin.repo} --version ${pin.version} --namespace ${pin.namespace} --create-namespace`;
}

/** The operators (by their CRDs) the cluster lacks, each with how to install it. */
export async function missingOperators(kc: KubeConfig, v: Versions = loadVersions()): Promise<MissingOperator[]> {
  const crds = new Set((await kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition()).items.map((c) => c.metadata?.name));
  return v.order.flatMap((name) => {
    const wanted = v.charts[name]!.crds ?? [];
    const absent = wanted.filter((c) => !crds.has(c));
    return absent.length ? [{ chart: name, crds: absent, install: installHint(name, v) }] : [];
  });
}

export function formatMissing(missing: MissingOperator[]): string {
  return missing.map((m) => `  ${m.chart} (no ${m.crds.join(', ')}):\n    ${m.install}`).join('\n');
}
