import { describe, expect, it } from 'vitest';
import { type Endpoint, type LinkEnds, externalTargetComponent, faultOf, mergeFaults, placeNetworkFault } from '../../cluster/chaos/network-plan.ts';
import { UnsupportedOnLocal } from '../../cluster/chaos/selector.ts';
import type { NetworkChaosSpec } from '../../cluster/chaos/types.ts';

// Two database pods (inbound + nats) and a worker (inbound + nats + lb to the databases).
const DBS = ['db-0', 'db-1'];
const linksOf = (pod: string): LinkEnds[] => [
  { link: 'inbound', components: ['load-balancer'], pods: [] },
  { link: 'nats', components: ['nats'], pods: [] },
  ...(pod === 'worker' ? [{ link: 'lb', components: ['load-balancer'], pods: DBS } as LinkEnds] : []),
];
const PODS = [...DBS, 'worker'];
const pod = (name: string): Endpoint => ({ kind: 'pod', name });
const NATS: Endpoint = { kind: 'component', name: 'nats' };
const LB: Endpoint = { kind: 'component', name: 'load-balancer' };
const place = (sel: Endpoint[], target: Endpoint[] | undefined, dir: 'to' | 'from' | 'both') =>
  placeNetworkFault(sel, target, dir, PODS, linksOf).map((p) => `${p.pod} ${p.link} ${p.flow}`).sort();

describe('where a NetworkChaos lands in the sidecars', () => {
  it('without a target, direction to: every packet the pod sends, on every link', () => {
    expect(place([pod('db-0')], undefined, 'to')).toEqual(['db-0 inbound from-pod', 'db-0 nats from-pod']);
  });

  it('a partition without a target, from/both: what the pod receives, and both', () => {
    expect(place([pod('db-0')], undefined, 'from')).toEqual(['db-0 inbound to-pod', 'db-0 nats to-pod']);
    expect(place([pod('db-0')], undefined, 'both')).toHaveLength(4);
  });

  it('towards NATS: the pod\'s nats link only, in the named direction', () => {
    expect(place(DBS.map(pod), [NATS], 'to')).toEqual(['db-0 nats from-pod', 'db-1 nats from-pod']);
    expect(place([pod('db-0')], [NATS], 'from')).toEqual(['db-0 nats to-pod']);
    expect(place([pod('db-0')], [NATS], 'both')).toEqual(['db-0 nats from-pod', 'db-0 nats to-pod']);
  });

  it('towards the load balancer: the inbound link, and a worker\'s lb link', () => {
    expect(place([pod('db-1')], [LB], 'both')).toEqual(['db-1 inbound from-pod', 'db-1 inbound to-pod']);
    expect(place([pod('worker')], [LB], 'to')).toEqual(['worker inbound from-pod', 'worker lb from-pod']);
  });

  it('NATS selected as the source: every pod\'s nats link, packets towards the pods', () => {
    expect(place([NATS], undefined, 'to')).toEqual(['db-0 nats to-pod', 'db-1 nats to-pod', 'worker nats to-pod']);
    expect(place([NATS], [pod('worker')], 'to')).toEqual(['worker nats to-pod']);
  });

  it('worker ↔ every database pod goes on the worker\'s lb link, either side selected', () => {
    expect(place([pod('worker')], DBS.map(pod), 'to')).toEqual(['worker lb from-pod']);
    expect(place(DBS.map(pod), [pod('worker')], 'to')).toEqual(['worker lb to-pod']);
    expect(place([pod('worker')], DBS.map(pod), 'both')).toEqual(['worker lb from-pod', 'worker lb to-pod']);
  });

  it('refuses to shape traffic towards some database pods only (one lb link reaches them all)', () => {
    expect(() => place([pod('worker')], [pod('db-0')], 'to')).toThrow(UnsupportedOnLocal);
    expect(() => place([pod('worker')], [pod('db-0')], 'to')).toThrow(/reaches db-0, db-1 through one lb link/);
  });

  it('places nothing where no traffic flows (database pods do not talk to each other)', () => {
    expect(place([pod('db-0')], [pod('db-1')], 'both')).toEqual([]);
  });

  it('knows NATS as an external target by its Service names', () => {
    for (const t of ['nats', 'nats.percolate', 'nats.percolate.svc.cluster.local', 'nats.percolate.svc:4222', 'nats-0.nats-headless.percolate.svc', 'NATS']) expect(externalTargetComponent(t), t).toBe('nats');
    for (const t of ['10.0.0.1', 'natsy.example.com', 'example.com', 'prometheus']) expect(externalTargetComponent(t), t).toBeUndefined();
  });
});

describe('the fault an action stands for', () => {
  const spec = (s: Partial<NetworkChaosSpec>) => ({ mode: 'all', selector: {}, ...s }) as NetworkChaosSpec;
  it('delay, loss, bandwidth and partition in sidecar terms', () => {
    expect(faultOf(spec({ action: 'delay', delay: { latency: '100ms', jitter: '10ms', correlation: '25' } }))).toEqual({ delayMs: 100, jitterMs: 10, correlation: 0.25 });
    expect(faultOf(spec({ action: 'loss', loss: { loss: '10', correlation: '50' } }))).toEqual({ loss: 0.1, lossCorrelation: 0.5 });
    expect(faultOf(spec({ action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 1, buffer: 1 } }))).toEqual({ bandwidthBytesPerSecond: 1_000_000 });
    expect(faultOf(spec({ action: 'partition' }))).toEqual({ partition: 'blackhole' });
    expect(faultOf(spec({ action: 'netem', delay: { latency: '5ms' }, loss: { loss: '1' } }))).toEqual({ delayMs: 5, loss: 0.01 });
  });
  it('refuses what a TCP proxy cannot mean', () => {
    expect(() => faultOf(spec({ action: 'duplicate', duplicate: { duplicate: '5' } }))).toThrow(UnsupportedOnLocal);
    expect(() => faultOf(spec({ action: 'delay', delay: { latency: '5ms', reorder: { reorder: '10', gap: 5 } } }))).toThrow(/reorder/);
  });
  it('stacks faults on one link: delays add, losses compound, the narrowest bandwidth and any partition win', () => {
    expect(mergeFaults([{ delayMs: 100, jitterMs: 10 }, { delayMs: 50, loss: 0.5 }, { loss: 0.5, bandwidthBytesPerSecond: 10 }, { bandwidthBytesPerSecond: 5 }]))
      .toEqual({ delayMs: 150, jitterMs: 10, loss: 0.75, bandwidthBytesPerSecond: 5 });
    expect(mergeFaults([{ delayMs: 1 }, { partition: 'blackhole' }])).toEqual({ delayMs: 1, partition: 'blackhole' });
    expect(mergeFaults([])).toBeUndefined();
  });
});
