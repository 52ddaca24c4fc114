import type { PodPhase } from '../target.ts';
import type { LabelRequirement, PodSelectorSpec, SelectorMode } from './types.ts';

/** Something a selector can pick: one of our pods, or a component standing in for a pod. */
export interface Candidate {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Absent for components, which run on no emulated node. */
  node?: string;
  phase: PodPhase;
}

/** The executor cannot give an experiment the meaning it has on a cluster: 422, with the reason. */
export class UnsupportedOnLocal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedOnLocal';
  }
}

/** The experiment is valid but cannot run now (nothing selected, already in force): 409. */
export class ChaosConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChaosConflict';
  }
}

const FIELD_SELECTORS: Record<string, (c: Candidate) => string | undefined> = {
  'metadata.name': (c) => c.name,
  'metadata.namespace': (c) => c.namespace,
  'spec.nodeName': (c) => c.node,
  'status.phase': (c) => c.phase,
};

function requirementHolds(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case 'In': return has && (r.values ?? []).includes(labels[r.key]!);
    case 'NotIn': return !has || !(r.values ?? []).includes(labels[r.key]!);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
  }
}

const mapMatches = (want: Record<string, string> | undefined, have: Record<string, string>) =>
  Object.entries(want ?? {}).every(([k, v]) => have[k] === v);

/**
 * The candidates a PodSelectorSpec picks, as Chaos Mesh's selector chain does: `pods` alone
 * when given (namespace → names), otherwise namespaces (default: the experiment's), labels,
 * expressions, fields, nodes, node labels and phases, all of which must hold.
 */
export function selectCandidates(
  spec: PodSelectorSpec,
  candidates: readonly Candidate[],
  defaultNamespace: string,
  nodeLabels: (node: string) => Record<string, string> | undefined,
): Candidate[] {
  if (spec.annotationSelectors && Object.keys(spec.annotationSelectors).length) {
    throw new UnsupportedOnLocal('annotationSelectors: the local runtime does not keep pod annotations; select by labels');
  }
  for (const key of Object.keys(spec.fieldSelectors ?? {})) {
    if (!FIELD_SELECTORS[key]) throw new UnsupportedOnLocal(`fieldSelectors: "${key}" is not supported locally (${Object.keys(FIELD_SELECTORS).join(', ')} are)`);
  }
  if (spec.pods && Object.keys(spec.pods).length) {
    return candidates.filter((c) => spec.pods![c.namespace]?.includes(c.name));
  }
  const namespaces = spec.namespaces?.length ? spec.namespaces : [defaultNamespace];
  return candidates.filter((c) => namespaces.includes(c.namespace)
    && mapMatches(spec.labelSelectors, c.labels)
    && (spec.expressionSelectors ?? []).every((r) => requirementHolds(r, c.labels))
    && Object.entries(spec.fieldSelectors ?? {}).every(([k, v]) => FIELD_SELECTORS[k]!(c) === v)
    && (!spec.nodes?.length || (c.node !== undefined && spec.nodes.includes(c.node)))
    && (!spec.nodeSelectors || (c.node !== undefined && mapMatches(spec.nodeSelectors, nodeLabels(c.node) ?? {})))
    && (!spec.podPhaseSelectors?.length || spec.podPhaseSelectors.includes(c.phase)));
}

/** `count` distinct indexes out of `n`, chosen at random. */
function pick(n: number, count: number, random: () => number): number[] {
  const indexes = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
  }
  return indexes.slice(0, Math.min(count, n)).sort((a, b) => a - b);
}

/**
 * How many of the matched objects the mode takes, and which (at random), as Chaos Mesh's
 * FilterObjectsByMode: one; all; fixed N (all if fewer match); fixed-percent P (ceil, so at
 * least one); random-max-percent (a random percentage from 0 to P, then ceil).
 */
export function filterByMode<T>(items: readonly T[], mode: SelectorMode, value: string | undefined, random: () => number = Math.random): T[] {
  if (items.length === 0) return [];
  const n = items.length;
  let count: number;
  switch (mode) {
    case 'one': count = 1; break;
    case 'all': count = n; break;
    case 'fixed': count = Number(value); break;
    case 'fixed-percent': count = Math.ceil((n * Number(value)) / 100); break;
    case 'random-max-percent': count = Math.ceil((n * Math.floor(random() * (Number(value) + 1))) / 100); break;
  }
  if (!Number.isInteger(count) || count < 0) throw new Error(`mode ${mode} with value "${value}" selects no whole number of objects`);
  if (count >= n) return [...items];
  return pick(n, count, random).map((i) => items[i]!);
}

/** "namespaces percolate, labels app.kubernetes.io/name=percolate-db": for "nothing matched" errors. */
export function describeSelector(spec: PodSelectorSpec, defaultNamespace: string): string {
  if (spec.pods && Object.keys(spec.pods).length) return `pods ${Object.entries(spec.pods).map(([ns, names]) => names.map((n) => `${ns}/${n}`).join(', ')).join(', ')}`;
  const parts = [`namespaces ${(spec.namespaces?.length ? spec.namespaces : [defaultNamespace]).join(', ')}`];
  if (spec.labelSelectors) parts.push(`labels ${Object.entries(spec.labelSelectors).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (spec.expressionSelectors?.length) parts.push(`expressions ${spec.expressionSelectors.map((e) => `${e.key} ${e.operator} ${(e.values ?? []).join('|')}`).join(', ')}`);
  if (spec.nodes?.length) parts.push(`nodes ${spec.nodes.join(', ')}`);
  if (spec.nodeSelectors) parts.push(`node labels ${Object.entries(spec.nodeSelectors).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (spec.podPhaseSelectors?.length) parts.push(`phases ${spec.podPhaseSelectors.join(', ')}`);
  return parts.join('; ');
}
