import { describe, expect, it } from 'vitest';
import { parseChaosYaml } from '../../cluster/chaos/parse.ts';
import { validateResource } from '../../cluster/chaos/schema.ts';
import { ChaosValidationError } from '../../cluster/chaos/types.ts';
import { parseCpuQuantity, parseDuration, parseMemoryQuantity, parsePercent, parseRate, parseSimpleDuration, parseStressSize } from '../../cluster/chaos/units.ts';

/** The problems a resource is refused with (fails the test if it is accepted). */
function problems(resource: unknown): string[] {
  try {
    validateResource(resource);
  } catch (err) {
    if (err instanceof ChaosValidationError) return err.problems;
    throw err;
  }
  throw new Error('the resource was accepted');
}

const dbSelector = { namespaces: ['percolate'], labelSelectors: { 'app.kubernetes.io/name': 'percolate-db' } };
const podChaos = (spec: Record<string, unknown>) => ({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'PodChaos', metadata: { name: 'x', namespace: 'percolate' }, spec: { mode: 'one', selector: dbSelector, ...spec } });
const stressChaos = (spec: Record<string, unknown>) => ({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'StressChaos', metadata: { name: 'x', namespace: 'percolate' }, spec: { mode: 'one', selector: dbSelector, ...spec } });
const netChaos = (spec: Record<string, unknown>) => ({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'NetworkChaos', metadata: { name: 'x', namespace: 'percolate' }, spec: { mode: 'all', selector: dbSelector, ...spec } });

describe('chaos value formats', () => {
  it('reads Go durations, compound ones too, and refuses what time.ParseDuration refuses', () => {
    expect(parseDuration('300ms')).toBe(300);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2h45m')).toBe(9_900_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500us')).toBe(0.5);
    for (const bad of ['30', '-5s', '5 s', 's', '1d', '']) expect(() => parseDuration(bad), bad).toThrow(/duration/);
    expect(parseSimpleDuration('100ms')).toBe(100);
    expect(() => parseSimpleDuration('1m30s')).toThrow(/one number and a unit/);
  });

  it('reads percentages as strings and tc rates in bytes per second (SI, bps = bytes)', () => {
    expect(parsePercent('25')).toBe(0.25);
    expect(parsePercent('0.5')).toBe(0.005);
    expect(() => parsePercent('101')).toThrow(/0 to 100/);
    expect(() => parsePercent('-1')).toThrow();
    expect(parseRate('1mbps')).toBe(1_000_000);
    expect(parseRate('8mbit')).toBe(1_000_000);
    expect(parseRate('100kbit')).toBe(12_500);
    expect(parseRate('512bps')).toBe(512);
    expect(parseRate('1GBPS')).toBe(1e9);
    for (const bad of ['1.5mbps', 'fast', '10', '0kbps']) expect(() => parseRate(bad), bad).toThrow();
  });
});

describe('stress sizes and container limits', () => {
  it('reads stress-ng sizes in 1024s (with or without the i) or as a percentage, and Kubernetes CPU and memory quantities', () => {
    expect(parseStressSize('128MB')).toEqual({ bytes: 128 * 1024 ** 2 });
    expect(parseStressSize('1GiB')).toEqual({ bytes: 1024 ** 3 });
    expect(parseStressSize('512')).toEqual({ bytes: 512 });
    expect(parseStressSize('25%')).toEqual({ percent: 25 });
    for (const bad of ['', 'lots', '12XB', '0MB', '150%']) expect(() => parseStressSize(bad), bad).toThrow(/size/);
    expect([parseCpuQuantity('500m'), parseCpuQuantity('2'), parseCpuQuantity('0.5')]).toEqual([500, 2000, 500]);
    expect([parseMemoryQuantity('512Mi'), parseMemoryQuantity('2Gi'), parseMemoryQuantity('1G'), parseMemoryQuantity('1000')]).toEqual([512 * 1024 ** 2, 2 * 1024 ** 3, 1e9, 1000]);
    expect(() => parseCpuQuantity('half')).toThrow(/millicores/);
    expect(() => parseMemoryQuantity('512MB')).toThrow(/suffix/);
  });

  it('checks StressChaos as its CRD does: at least one stressor, workers 1–8192, load 0–100, oomScoreAdj ±1000, a size stress-ng reads', () => {
    expect(problems(stressChaos({}))).toEqual(['spec.stressors: at least one stressor (cpu or memory) or stressngStressors is required']);
    expect(problems(stressChaos({ stressors: { cpu: { workers: 0, load: 120 } } }))).toEqual(expect.arrayContaining([
      'spec.stressors.cpu.workers: must be an integer of at least 1', 'spec.stressors.cpu.load: must be a percentage from 0 to 100',
    ]));
    expect(problems(stressChaos({ stressors: { memory: { workers: 9000, size: 'huge', oomScoreAdj: 2000 } } }))).toEqual([
      'spec.stressors.memory.workers: must be at most 8192 (stress-ng\'s limit)', expect.stringMatching(/^spec\.stressors\.memory\.size: size "huge"/), 'spec.stressors.memory.oomScoreAdj: must be from -1000 to 1000',
    ]);
    expect(problems(stressChaos({ stressors: { disk: {} } }))).toEqual([expect.stringMatching(/^spec\.stressors: unknown field\(s\) disk/), expect.stringMatching(/at least one stressor/)]);
  });
});

describe('chaos schema', () => {
  it('accepts Chaos Mesh resources and fills the defaults Chaos Mesh fills', () => {
    const r = validateResource(netChaos({ action: 'delay', delay: { latency: '100ms' } }));
    expect(r.kind).toBe('NetworkChaos');
    expect(r.kind === 'NetworkChaos' && r.spec.direction).toBe('to');
    const noNs = validateResource({ ...podChaos({ action: 'pod-kill' }), metadata: { name: 'y' } });
    expect(noNs.metadata.namespace).toBe('default');
  });

  it('refuses the wrong API group, unknown kinds and unknown fields (kubectl\'s strict validation)', () => {
    expect(problems({ ...podChaos({ action: 'pod-kill' }), apiVersion: 'percolate.io/v1alpha1' })).toEqual(['apiVersion: PodChaos belongs to chaos-mesh.org/v1alpha1, not "percolate.io/v1alpha1"']);
    expect(problems({ ...podChaos({ action: 'pod-kill' }), kind: 'IOChaos' })[0]).toMatch(/kind: "IOChaos" is not one of/);
    expect(problems(podChaos({ action: 'pod-kill', gracePeriodSeconds: 5 }))).toEqual([expect.stringMatching(/^spec: unknown field\(s\) gracePeriodSeconds/)]);
    expect(problems(podChaos({ action: 'pod-kill', selector: { labels: { a: 'b' } } }))[0]).toMatch(/^spec\.selector: unknown field\(s\) labels/);
  });

  it('wants strings where Chaos Mesh has strings, and says how to quote them', () => {
    expect(problems(netChaos({ action: 'loss', loss: { loss: 25 } }))).toEqual(['spec.loss.loss: must be a string (quote it: "25")']);
    expect(problems(podChaos({ action: 'pod-kill', mode: 'fixed', value: 2 }))).toContain('spec.value: must be a string (quote it: "2")');
  });

  it('checks mode values as FilterObjectsByMode does', () => {
    expect(problems(podChaos({ action: 'pod-kill', mode: 'fixed' }))[0]).toMatch(/^spec\.value: mode fixed needs value/);
    expect(problems(podChaos({ action: 'pod-kill', mode: 'fixed', value: '0' }))[0]).toMatch(/^spec\.value/);
    expect(problems(podChaos({ action: 'pod-kill', mode: 'fixed-percent', value: '101' }))[0]).toMatch(/^spec\.value: mode fixed-percent needs value/);
    expect(problems(podChaos({ action: 'pod-kill', mode: 'fixed-percent', value: '12.5' }))[0]).toMatch(/^spec\.value/);
    expect(problems(podChaos({ action: 'pod-kill', mode: 'some' }))[0]).toMatch(/^spec\.mode: "some" is not one of one, all, fixed, fixed-percent, random-max-percent/);
  });

  it('applies the per-action rules: pod-failure needs a duration, container-kill container names, netem actions their spec', () => {
    expect(problems(podChaos({ action: 'pod-failure' }))).toEqual(['spec.duration: is required']);
    expect(problems(podChaos({ action: 'container-kill' }))).toEqual(['spec.containerNames: the name of the container is required for container-kill']);
    expect(problems(netChaos({ action: 'delay' }))).toEqual(['spec.delay: is required for action delay']);
    expect(problems(netChaos({ action: 'delay', delay: { latency: '1m30s', jitter: 'lots' } }))).toEqual([
      expect.stringMatching(/^spec\.delay\.latency: "1m30s" must be one number and a unit/),
      expect.stringMatching(/^spec\.delay\.jitter: "lots"/),
    ]);
    expect(problems(netChaos({ action: 'bandwidth', bandwidth: { rate: '1mbps' } }))).toEqual(['spec.bandwidth.limit: is required', 'spec.bandwidth.buffer: is required']);
    expect(problems(podChaos({ action: 'pod-kill', duration: '0s' }))).toEqual(['spec.duration: must be longer than zero']);
  });

  it('applies Chaos Mesh\'s webhook rules for direction', () => {
    expect(problems(netChaos({ action: 'delay', direction: 'from', delay: { latency: '10ms' } })))
      .toEqual(['spec.direction: `from` and `both` direction cannot be used when targets is empty in netem action']);
    expect(problems(netChaos({ action: 'delay', direction: 'both', externalTargets: ['nats'], target: { mode: 'all', selector: {} }, delay: { latency: '10ms' } })))
      .toEqual(['spec.direction: external targets cannot be used with `from` and `both` direction in netem action yet']);
    // A partition may go either way with or without a target.
    expect(validateResource(netChaos({ action: 'partition', direction: 'both' })).kind).toBe('NetworkChaos');
  });

  it('checks workflows: the entry and children exist, no cycles, Suspend has a deadline, chaos nodes their spec', () => {
    const wf = (templates: unknown[], entry = 'main') => ({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'Workflow', metadata: { name: 'w', namespace: 'percolate' }, spec: { entry, templates } });
    expect(problems(wf([{ name: 'main', templateType: 'Serial', children: ['a', 'nope'] }, { name: 'a', templateType: 'Suspend' }]))).toEqual([
      'spec.templates[1].deadline: is required',
      'spec.templates: main names child "nope", which is not a template',
    ]);
    expect(problems(wf([{ name: 'main', templateType: 'Serial', children: ['b'] }, { name: 'b', templateType: 'Parallel', children: ['main'] }]))).toEqual(['spec.templates: the templates contain a cycle']);
    expect(problems(wf([{ name: 'main', templateType: 'NetworkChaos', networkChaos: { mode: 'all', action: 'delay' } }]))).toEqual(['spec.templates[0].networkChaos.delay: is required for action delay']);
    expect(problems(wf([{ name: 'main', templateType: 'StressChaos' }]))[0]).toMatch(/templateType: "StressChaos" is not one of Serial, Parallel, Suspend, PodChaos, NetworkChaos/);
  });

  it('reads one YAML document per file and reports YAML errors', () => {
    expect(() => parseChaosYaml('a: [1\n')).toThrow(/YAML/);
    expect(() => parseChaosYaml('kind: PodChaos\n---\nkind: PodChaos\n')).toThrow(/exactly one YAML document, found 2/);
  });
});
