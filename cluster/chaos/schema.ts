import { Check, type Json, compact } from './check.ts';
import {
  type ChaosResource, ChaosValidationError, KIND_API_VERSION, type LabelRequirement, NETWORK_CHAOS_ACTIONS,
  type NetworkChaosSpec, type ObjectMeta, POD_CHAOS_ACTIONS, type PodChaosSpec,
  type PodSelector, type PodSelectorSpec, SELECTOR_MODES, type SelectorMode, type StressChaosSpec, type TaskSpec, WORKFLOW_TEMPLATE_TYPES, type WorkflowSpec,
  type WorkflowTemplate,
} from './types.ts';
import { parseDuration, parsePercent, parseRate, parseSimpleDuration, parseStressSize } from './units.ts';

/**
 * Checks an untyped object (a parsed YAML document, a control API body) against our schema of
 * the chaos kinds, with Chaos Mesh's own rules where it has them (its CRD enums and
 * patterns, and the webhook's cross-field checks). Returns the typed resource or throws a
 * ChaosValidationError listing every problem.
 */
export function validateResource(value: unknown, where = 'chaos resource'): ChaosResource {
  const c = new Check();
  const root = c.object(value, '(root)');
  if (!root) throw new ChaosValidationError(c.problems, where);
  c.object(root, '(root)', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const kind = c.oneOf(root, 'kind', '(root)', Object.keys(KIND_API_VERSION) as (keyof typeof KIND_API_VERSION)[], true);
  const apiVersion = c.string(root, 'apiVersion', '(root)', true);
  if (kind && apiVersion !== undefined && apiVersion !== KIND_API_VERSION[kind]) {
    c.fail('apiVersion', `${kind} belongs to ${KIND_API_VERSION[kind]}, not "${apiVersion}"`);
  }
  const metadata = checkMetadata(c, root.metadata);
  const spec = c.object(root.spec, 'spec');
  let checked: unknown;
  if (kind && spec && metadata) {
    switch (kind) {
      case 'PodChaos': checked = checkPodChaosSpec(c, spec, 'spec'); break;
      case 'NetworkChaos': checked = checkNetworkChaosSpec(c, spec, 'spec'); break;
      case 'StressChaos': checked = checkStressChaosSpec(c, spec, 'spec'); break;
      case 'Workflow': checked = checkWorkflowSpec(c, spec, 'spec'); break;
    }
  }
  if (c.problems.length || !kind || !metadata || !checked) throw new ChaosValidationError(c.problems.length ? c.problems : ['incomplete'], where);
  return { apiVersion: KIND_API_VERSION[kind], kind, metadata, spec: checked } as ChaosResource;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkMetadata(c: Check, value: unknown): ObjectMeta | undefined {
  const m = c.object(value, 'metadata', ['name', 'namespace', 'labels', 'annotations']);
  if (!m) return undefined;
  const name = c.string(m, 'name', 'metadata', true);
  if (name !== undefined && (!DNS_SUBDOMAIN.test(name) || name.length > 253)) c.fail('metadata.name', `"${name}" must be lower-case letters, digits, "-" and "." (a DNS subdomain)`);
  const namespace = c.string(m, 'namespace', 'metadata') ?? 'default';
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) c.fail('metadata.namespace', `"${namespace}" must be a DNS label`);
  if (name === undefined) return undefined;
  return compact({ name, namespace, labels: c.stringMap(m, 'labels', 'metadata'), annotations: c.stringMap(m, 'annotations', 'metadata') });
}

function checkSelectorSpec(c: Check, value: unknown, path: string): PodSelectorSpec | undefined {
  const s = c.object(value ?? {}, path, ['namespaces', 'labelSelectors', 'expressionSelectors', 'annotationSelectors', 'fieldSelectors', 'nodes', 'pods', 'nodeSelectors', 'podPhaseSelectors']);
  if (!s) return undefined;
  let expressionSelectors: LabelRequirement[] | undefined;
  if (s.expressionSelectors !== undefined) {
    if (!Array.isArray(s.expressionSelectors)) c.fail(`${path}.expressionSelectors`, 'must be a list');
    else {
      expressionSelectors = [];
      s.expressionSelectors.forEach((raw, i) => {
        const p = `${path}.expressionSelectors[${i}]`;
        const e = c.object(raw, p, ['key', 'operator', 'values']);
        if (!e) return;
        const key = c.string(e, 'key', p, true);
        const operator = c.oneOf(e, 'operator', p, ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, true);
        const values = c.strings(e, 'values', p);
        if ((operator === 'In' || operator === 'NotIn') && !values?.length) c.fail(`${p}.values`, `must be non-empty for ${operator}`);
        if ((operator === 'Exists' || operator === 'DoesNotExist') && values?.length) c.fail(`${p}.values`, `must be empty for ${operator}`);
        if (key && operator) expressionSelectors!.push(compact({ key, operator, values }));
      });
    }
  }
  let pods: Record<string, string[]> | undefined;
  if (s.pods !== undefined) {
    const map = c.object(s.pods, `${path}.pods`);
    if (map) {
      pods = {};
      for (const ns of Object.keys(map)) {
        const names = c.strings(map, ns, `${path}.pods`, true);
        if (names) pods[ns] = names;
      }
    }
  }
  const phases = c.strings(s, 'podPhaseSelectors', path);
  for (const phase of phases ?? []) {
    if (!['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'].includes(phase)) c.fail(`${path}.podPhaseSelectors`, `"${phase}" is not a pod phase (Pending, Running, Succeeded, Failed, Unknown)`);
  }
  return compact({
    namespaces: c.strings(s, 'namespaces', path),
    labelSelectors: c.stringMap(s, 'labelSelectors', path),
    expressionSelectors,
    annotationSelectors: c.stringMap(s, 'annotationSelectors', path),
    fieldSelectors: c.stringMap(s, 'fieldSelectors', path),
    nodes: c.strings(s, 'nodes', path),
    pods,
    nodeSelectors: c.stringMap(s, 'nodeSelectors', path),
    podPhaseSelectors: phases,
  });
}

/** mode and value, with FilterObjectsByMode's rules: integers, fixed ≥ 1, percentages 1–100. */
function checkMode(c: Check, obj: Json, path: string): { mode: SelectorMode; value?: string } | undefined {
  const mode = c.oneOf(obj, 'mode', path, SELECTOR_MODES, true);
  const value = c.string(obj, 'value', path);
  if (!mode) return undefined;
  if (mode === 'fixed' && !(value !== undefined && /^\d+$/.test(value) && Number(value) >= 1)) c.fail(`${path}.value`, 'mode fixed needs value: the number of pods, an integer of at least 1, as a string');
  if ((mode === 'fixed-percent' || mode === 'random-max-percent') && !(value !== undefined && /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 100)) {
    c.fail(`${path}.value`, `mode ${mode} needs value: a percentage, an integer from 1 to 100, as a string`);
  }
  return compact({ mode, value: mode === 'one' || mode === 'all' ? undefined : value });
}

function checkPodSelector(c: Check, obj: Json, path: string): PodSelector | undefined {
  const selector = checkSelectorSpec(c, obj.selector, `${path}.selector`);
  const mode = checkMode(c, obj, path);
  return selector && mode ? { selector, ...mode } : undefined;
}

function checkDuration(c: Check, obj: Json, key: string, path: string, required = false): string | undefined {
  const d = c.string(obj, key, path, required);
  if (d === undefined) return undefined;
  try {
    if (parseDuration(d) <= 0) c.fail(`${path}.${key}`, 'must be longer than zero');
  } catch (err) {
    c.fail(`${path}.${key}`, (err as Error).message);
  }
  return d;
}

export function checkPodChaosSpec(c: Check, spec: Json, path: string): PodChaosSpec | undefined {
  c.object(spec, path, ['selector', 'mode', 'value', 'action', 'duration', 'gracePeriod', 'containerNames']);
  const action = c.oneOf(spec, 'action', path, POD_CHAOS_ACTIONS, true);
  const sel = checkPodSelector(c, spec, path);
  const duration = checkDuration(c, spec, 'duration', path, action === 'pod-failure');
  const gracePeriod = c.integer(spec, 'gracePeriod', path, 0);
  const containerNames = c.strings(spec, 'containerNames', path);
  if (action === 'container-kill' && !containerNames?.length) c.fail(`${path}.containerNames`, 'the name of the container is required for container-kill');
  if (!action || !sel) return undefined;
  return compact({ ...sel, action, duration, gracePeriod, containerNames });
}

/** StressChaos, with the CRD's bounds (workers ≤ 8192, load 0–100, oomScoreAdj ±1000) and its webhook's rule: at least one stressor. */
export function checkStressChaosSpec(c: Check, spec: Json, path: string): StressChaosSpec | undefined {
  c.object(spec, path, ['selector', 'mode', 'value', 'duration', 'stressors', 'stressngStressors', 'containerNames', 'remoteCluster']);
  const sel = checkPodSelector(c, spec, path);
  const duration = checkDuration(c, spec, 'duration', path);
  const containerNames = c.strings(spec, 'containerNames', path);
  const stressngStressors = c.string(spec, 'stressngStressors', path);
  let stressors: StressChaosSpec['stressors'];
  if (spec.stressors !== undefined) {
    const st = c.object(spec.stressors, `${path}.stressors`, ['cpu', 'memory']);
    if (st) {
      stressors = {};
      if (st.cpu !== undefined) {
        const cpu = c.object(st.cpu, `${path}.stressors.cpu`, ['workers', 'load', 'options']);
        const workers = cpu && c.integer(cpu, 'workers', `${path}.stressors.cpu`, 1, true);
        const load = cpu && c.integer(cpu, 'load', `${path}.stressors.cpu`, 0);
        if (workers !== undefined && workers > 8192) c.fail(`${path}.stressors.cpu.workers`, 'must be at most 8192 (stress-ng\'s limit)');
        if (load !== undefined && load > 100) c.fail(`${path}.stressors.cpu.load`, 'must be a percentage from 0 to 100');
        const options = cpu && c.strings(cpu, 'options', `${path}.stressors.cpu`);
        if (workers !== undefined) stressors.cpu = compact({ workers, load, options });
      }
      if (st.memory !== undefined) {
        const memory = c.object(st.memory, `${path}.stressors.memory`, ['workers', 'size', 'oomScoreAdj', 'options']);
        const workers = memory && c.integer(memory, 'workers', `${path}.stressors.memory`, 1, true);
        if (workers !== undefined && workers > 8192) c.fail(`${path}.stressors.memory.workers`, 'must be at most 8192 (stress-ng\'s limit)');
        const size = memory && c.parsed(memory, 'size', `${path}.stressors.memory`, (s) => { parseStressSize(s); return s; });
        const oomScoreAdj = memory && c.integer(memory, 'oomScoreAdj', `${path}.stressors.memory`, -1000);
        if (oomScoreAdj !== undefined && oomScoreAdj > 1000) c.fail(`${path}.stressors.memory.oomScoreAdj`, 'must be from -1000 to 1000');
        const options = memory && c.strings(memory, 'options', `${path}.stressors.memory`);
        if (workers !== undefined) stressors.memory = compact({ workers, size, oomScoreAdj, options });
      }
    }
  }
  if (!stressors?.cpu && !stressors?.memory && !stressngStressors) c.fail(`${path}.stressors`, 'at least one stressor (cpu or memory) or stressngStressors is required');
  if (!sel) return undefined;
  return compact({ ...sel, duration, stressors, stressngStressors, containerNames });
}

const percentCheck = (s: string) => { parsePercent(s); return s; };

export function checkNetworkChaosSpec(c: Check, spec: Json, path: string): NetworkChaosSpec | undefined {
  c.object(spec, path, ['selector', 'mode', 'value', 'action', 'duration', 'direction', 'target', 'externalTargets', 'device', 'targetDevice', 'delay', 'loss', 'duplicate', 'corrupt', 'bandwidth']);
  const action = c.oneOf(spec, 'action', path, NETWORK_CHAOS_ACTIONS, true);
  const sel = checkPodSelector(c, spec, path);
  const duration = checkDuration(c, spec, 'duration', path);
  const direction = c.oneOf(spec, 'direction', path, ['to', 'from', 'both'] as const) ?? 'to';
  let target: PodSelector | undefined;
  if (spec.target !== undefined && spec.target !== null) {
    const t = c.object(spec.target, `${path}.target`, ['selector', 'mode', 'value']);
    if (t) target = checkPodSelector(c, t, `${path}.target`);
  }
  const externalTargets = c.strings(spec, 'externalTargets', path);

  const sub = <T>(key: string, known: string[], read: (o: Json, p: string) => T): T | undefined => {
    if (spec[key] === undefined || spec[key] === null) return undefined;
    const o = c.object(spec[key], `${path}.${key}`, known);
    return o ? read(o, `${path}.${key}`) : undefined;
  };
  const delay = sub('delay', ['latency', 'jitter', 'correlation', 'reorder'], (o, p) => {
    let reorder: { reorder: string; correlation?: string; gap: number } | undefined;
    if (o.reorder !== undefined) {
      const r = c.object(o.reorder, `${p}.reorder`, ['reorder', 'correlation', 'gap']);
      if (r) {
        const rr = c.parsed(r, 'reorder', `${p}.reorder`, percentCheck, true);
        const gap = c.integer(r, 'gap', `${p}.reorder`, 0, true);
        if (rr !== undefined && gap !== undefined) reorder = compact({ reorder: rr, correlation: c.parsed(r, 'correlation', `${p}.reorder`, percentCheck), gap });
      }
    }
    return compact({
      latency: c.parsed(o, 'latency', p, (s) => { parseSimpleDuration(s); return s; }, true) ?? '',
      jitter: c.parsed(o, 'jitter', p, (s) => { parseSimpleDuration(s); return s; }),
      correlation: c.parsed(o, 'correlation', p, percentCheck),
      reorder,
    });
  });
  const loss = sub('loss', ['loss', 'correlation'], (o, p) => compact({ loss: c.parsed(o, 'loss', p, percentCheck, true) ?? '', correlation: c.parsed(o, 'correlation', p, percentCheck) }));
  const duplicate = sub('duplicate', ['duplicate', 'correlation'], (o, p) => compact({ duplicate: c.parsed(o, 'duplicate', p, percentCheck, true) ?? '', correlation: c.parsed(o, 'correlation', p, percentCheck) }));
  const corrupt = sub('corrupt', ['corrupt', 'correlation'], (o, p) => compact({ corrupt: c.parsed(o, 'corrupt', p, percentCheck, true) ?? '', correlation: c.parsed(o, 'correlation', p, percentCheck) }));
  const bandwidth = sub('bandwidth', ['rate', 'limit', 'buffer', 'peakrate', 'minburst'], (o, p) => compact({
    rate: c.parsed(o, 'rate', p, (s) => { parseRate(s); return s; }, true) ?? '',
    limit: c.integer(o, 'limit', p, 1, true) ?? 0,
    buffer: c.integer(o, 'buffer', p, 1, true) ?? 0,
    peakrate: c.integer(o, 'peakrate', p, 0),
    minburst: c.integer(o, 'minburst', p, 0),
  }));

  if (action) {
    const needs: Partial<Record<typeof action, [string, unknown]>> = {
      delay: ['delay', delay], loss: ['loss', loss], duplicate: ['duplicate', duplicate], corrupt: ['corrupt', corrupt], bandwidth: ['bandwidth', bandwidth],
    };
    const need = needs[action];
    if (need && need[1] === undefined && spec[need[0]] === undefined) c.fail(`${path}.${need[0]}`, `is required for action ${action}`);
    if (action === 'netem' && !delay && !loss && !duplicate && !corrupt) c.fail(path, 'action netem needs at least one of delay, loss, duplicate, corrupt');
    // Chaos Mesh's webhook: netem-style actions only know `to` without a pod target.
    if (action !== 'partition' && (direction === 'from' || direction === 'both')) {
      if (externalTargets !== undefined) c.fail(`${path}.direction`, 'external targets cannot be used with `from` and `both` direction in netem action yet');
      if (!target) c.fail(`${path}.direction`, '`from` and `both` direction cannot be used when targets is empty in netem action');
    }
  }
  if (!action || !sel) return undefined;
  return compact({
    ...sel, action, duration, direction, target, externalTargets,
    device: c.string(spec, 'device', path), targetDevice: c.string(spec, 'targetDevice', path),
    delay, loss, duplicate, corrupt, bandwidth,
  });
}

function checkTaskSpec(c: Check, value: unknown, path: string): TaskSpec | undefined {
  const task = c.object(value, path, ['container']);
  const container = task && c.object(task.container, `${path}.container`, ['name', 'image', 'command', 'args']);
  if (!container) return undefined;
  const name = c.string(container, 'name', `${path}.container`, true);
  const image = c.string(container, 'image', `${path}.container`, true);
  if (name !== undefined && !DNS_LABEL.test(name)) c.fail(`${path}.container.name`, `"${name}" must be a DNS label`);
  if (name === undefined || image === undefined) return undefined;
  return { container: compact({ name, image, command: c.strings(container, 'command', `${path}.container`), args: c.strings(container, 'args', `${path}.container`) }) };
}

const TEMPLATE_SPEC_KEY = { PodChaos: 'podChaos', NetworkChaos: 'networkChaos' } as const;

function checkWorkflowSpec(c: Check, spec: Json, path: string): WorkflowSpec | undefined {
  c.object(spec, path, ['entry', 'templates']);
  const entry = c.string(spec, 'entry', path, true);
  if (!Array.isArray(spec.templates) || spec.templates.length === 0) return c.fail(`${path}.templates`, 'must be a non-empty list');
  const templates: WorkflowTemplate[] = [];
  spec.templates.forEach((raw, i) => {
    const p = `${path}.templates[${i}]`;
    const t = c.object(raw, p, ['name', 'templateType', 'deadline', 'children', 'podChaos', 'networkChaos', 'task']);
    if (!t) return;
    const name = c.string(t, 'name', p, true);
    const templateType = c.oneOf(t, 'templateType', p, WORKFLOW_TEMPLATE_TYPES, true);
    const deadline = checkDuration(c, t, 'deadline', p, templateType === 'Suspend');
    const children = c.strings(t, 'children', p);
    if ((templateType === 'Serial' || templateType === 'Parallel') && !children?.length) c.fail(`${p}.children`, `a ${templateType} template needs children`);
    let podChaos: PodChaosSpec | undefined;
    let networkChaos: NetworkChaosSpec | undefined;
    if (templateType === 'PodChaos' || templateType === 'NetworkChaos') {
      const key = TEMPLATE_SPEC_KEY[templateType];
      const embedded = c.object(t[key], `${p}.${key}`);
      if (embedded && templateType === 'PodChaos') podChaos = checkPodChaosSpec(c, embedded, `${p}.${key}`);
      if (embedded && templateType === 'NetworkChaos') networkChaos = checkNetworkChaosSpec(c, embedded, `${p}.${key}`);
    }
    let task: TaskSpec | undefined;
    if (templateType === 'Task') task = checkTaskSpec(c, t.task, `${p}.task`);
    if (name && templateType) templates.push(compact({ name, templateType, deadline, children, podChaos, networkChaos, task }));
  });
  const byName = new Map<string, WorkflowTemplate>();
  for (const t of templates) {
    if (byName.has(t.name)) c.fail(`${path}.templates`, `two templates are named "${t.name}"`);
    byName.set(t.name, t);
  }
  if (entry !== undefined && !byName.has(entry)) c.fail(`${path}.entry`, `no template is named "${entry}"`);
  for (const t of templates) for (const child of t.children ?? []) if (!byName.has(child)) c.fail(`${path}.templates`, `${t.name} names child "${child}", which is not a template`);
  // A template that (through its children) contains itself would never finish.
  const visiting = new Set<string>();
  const cyclic = (name: string): boolean => {
    if (visiting.has(name)) return true;
    visiting.add(name);
    const found = (byName.get(name)?.children ?? []).some(cyclic);
    visiting.delete(name);
    return found;
  };
  if (entry !== undefined && byName.has(entry) && cyclic(entry)) c.fail(`${path}.templates`, 'the templates contain a cycle');
  return entry === undefined ? undefined : { entry, templates };
}
