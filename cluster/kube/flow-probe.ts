import { randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { PART_OF, PART_OF_LABEL } from '../../lib/names.ts';
import { loadVersions } from '../k3s/plan.ts';

/**
 * On every object a flow probe creates, valued with the probe's id. Leftovers of a run that
 * died mid-probe are swept by the next run's first probe (`STALE_PROBE_MS`), or go with
 * `kubectl -n percolate delete configmap -l percolate.io/probe`: each probe pod is its
 * ConfigMap's dependent.
 */
export const PROBE_LABEL = 'percolate.io/probe';
/** A probe pod from creation to its end: scheduling, a first image pull on the node, and the connect. */
export const KUBE_FLOW_PROBE_TIMEOUT_MS = 60_000;
/**
 * Older than any probe can be alive (its bound, then the deletion): what a run that died
 * mid-probe left, swept before a target's first probe. A live probe of another run on the
 * same cluster is younger, and is left alone.
 */
export const STALE_PROBE_MS = 2 * KUBE_FLOW_PROBE_TIMEOUT_MS;
/** The bound of the one connect: a NetworkPolicy drops the SYN, so a forbidden flow ends as this timeout. */
export const PROBE_CONNECT_TIMEOUT_S = 3;
/** `nobody`: the restricted Pod Security Standard wants a non-root user. */
const PROBE_UID = 65534;

// One line the target parses, whatever nc prints; exit 0 either way, so a Failed pod means
// the probe itself broke, not the flow.
const PROBE_SCRIPT = `out=$(nc -z -v -w ${PROBE_CONNECT_TIMEOUT_S} "$1" "$2" 2>&1); rc=$?; `
  + 'if [ "$rc" = 0 ]; then echo "PROBE connected"; else echo "PROBE failed $rc $out"; fi';

export const newProbeId = (): string => `probe-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** The probe's image, pinned in cluster/k3s/versions.yaml (`probe`). */
export function probeImage(): string {
  const { probe } = loadVersions();
  return `${probe.image}:${probe.tag}`;
}

/** The probe pod's owner: deleting it garbage-collects the pod, and it keeps the source's controller from adopting the pod. */
export function probeOwner(id: string, namespace: string): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: id, namespace, labels: { [PART_OF_LABEL]: PART_OF, [PROBE_LABEL]: id } } };
}

export interface ProbePodInput {
  id: string;
  namespace: string;
  /** The pod the NetworkPolicies must take the probe for. */
  source: V1Pod;
  owner: { name: string; uid: string };
  ip: string;
  port: number;
  image: string;
}

export function probePod({ id, namespace, source, owner, ip, port, image }: ProbePodInput): V1Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: id, namespace,
      // The policies select by label: with the source's labels the probe is the source to them.
      labels: { ...source.metadata?.labels, [PROBE_LABEL]: id },
      // A sidecar would accept the connect itself, whatever the policy says of the real one.
      annotations: { 'sidecar.istio.io/inject': 'false' },
      // ReplicaSets and StatefulSets adopt orphans their selector matches; a pod with a controller is no orphan.
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.name, uid: owner.uid, controller: true }],
    },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      ...(source.spec?.serviceAccountName ? { serviceAccountName: source.spec.serviceAccountName } : {}),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: PROBE_UID, runAsGroup: PROBE_UID, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'probe', image,
        command: ['sh', '-c', PROBE_SCRIPT, 'probe', ip, String(port)],
        // Never ready, so no Service sends it traffic meant for the source's workload.
        readinessProbe: { exec: { command: ['false'] }, periodSeconds: 1 },
        securityContext: {
          runAsNonRoot: true, runAsUser: PROBE_UID, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
        },
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '16Mi' } },
      }],
    },
  };
}

/** The result line of a probe pod's log, or undefined when it printed none. */
export function probeLogResult(log: string): { connected: true } | { connected: false; exitCode: number; message: string } | undefined {
  const line = /^PROBE (connected|failed (\d+))(.*)$/ms.exec(log);
  if (!line) return undefined;
  if (line[1] === 'connected') return { connected: true };
  return { connected: false, exitCode: Number(line[2]), message: line[3]!.replace(/\s+/g, ' ').trim() };
}
