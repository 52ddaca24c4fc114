import { describe as group, expect, it } from 'vitest';
import { availabilityPerSecond, disruption } from '../../suites/lib/checker/availability.ts';
import { type ReplicaState, checkRegisters, describe, divergentTenants, keyOf, locateRuns } from '../../suites/lib/checker/check.ts';
import { Ledger, type Outcome, outcomeOf } from '../../suites/lib/checker/ledger.ts';

// Hand-made histories: times in ms from 0, one tenant unless said otherwise.
function history(...writes: Array<[key: string, value: string, start: number, end: number, outcome: Outcome]>): Ledger {
  const ledger = new Ledger();
  for (const [key, value, start, end, outcome] of writes) ledger.add({ type: 'write', process: 0, tenant: 't1', key, value, start, end, outcome });
  return ledger;
}
const replica = (name: string, values: Record<string, string | null>, unreadable: string[] = []): ReplicaState => ({
  replica: name, values: new Map(Object.entries(values).map(([k, v]) => [keyOf('t1', k), v])), unreadable: unreadable.map((k) => keyOf('t1', k)),
});

group('checker: outcomes', () => {
  it('2xx is ok, 4xx a refusal, 5xx / timeouts / cut connections in doubt', () => {
    expect(outcomeOf({ status: 200 }).outcome).toBe('ok');
    expect(outcomeOf({ status: 503, body: { error: 'replication_unavailable', message: '…' } })).toEqual({ outcome: 'unknown', detail: '503 replication_unavailable' });
    expect(outcomeOf({ status: 429 }).outcome).toBe('fail');
    expect(outcomeOf({ status: 408 }).outcome).toBe('unknown');
    expect(outcomeOf({ status: 503 }).outcome).toBe('unknown');
    expect(outcomeOf(new Error('socket hang up')).outcome).toBe('unknown');
  });

  it('operations still in flight when the run is sealed are unknown', () => {
    const ledger = new Ledger();
    ledger.invoke({ type: 'write', process: 0, tenant: 't1', key: 'a', value: '1', start: 0 });
    ledger.seal(10);
    expect(ledger.ops[0]).toMatchObject({ outcome: 'unknown', end: 10 });
  });
});

group('checker: registers read back from every replica', () => {
  it('a clean history on two replicas is valid', () => {
    const h = history(['a', '1', 0, 5, 'ok'], ['b', '2', 6, 9, 'ok'], ['a', '3', 10, 12, 'ok']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: '3', b: '2' }), replica('db-1', { a: '3', b: '2' })]);
    expect(r.valid).toBe(true);
    expect(r.writes).toEqual({ attempted: 3, ok: 3, fail: 0, unknown: 0 });
  });

  it('names an acknowledged write absent on one replica as lost, on that replica only', () => {
    const h = history(['a', '1', 0, 5, 'ok'], ['b', '2', 6, 9, 'ok'], ['c', '3', 10, 12, 'ok']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: '1', b: '2', c: '3' }), replica('db-1', { a: '1', b: null, c: '3' })]);
    expect(r.counts.lost).toBe(1);
    expect(r.anomalies).toEqual([expect.objectContaining({ kind: 'lost', replica: 'db-1', key: 'b', expected: '2', location: 'middle' })]);
  });

  it('locates lost writes: a replica that never replayed the log lost a prefix, a dropped tail is a suffix', () => {
    const h = history(['a', '1', 0, 1, 'ok'], ['b', '2', 2, 3, 'ok'], ['c', '3', 4, 5, 'ok'], ['d', '4', 6, 7, 'ok'], ['e', '5', 8, 9, 'ok']);
    const noReplay = replica('db-0', { a: null, b: null, c: null, d: '4', e: '5' });
    const droppedTail = replica('db-1', { a: '1', b: '2', c: '3', d: null, e: null });
    const r = checkRegisters(h.ops, [noReplay, droppedTail]);
    expect(r.lostLocations).toEqual({ prefix: 3, middle: 0, suffix: 2, all: 0 });
    expect(describe(r)).toContain('lost 5 (prefix 3, middle 0, suffix 2, all 0)');
  });

  it('orders keys by acknowledgement, not by invocation', () => {
    // b was invoked first but acknowledged last: losing it is a suffix.
    const h = history(['b', '2', 0, 50, 'ok'], ['a', '1', 1, 2, 'ok']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: '1', b: null })]);
    expect(r.anomalies[0]).toMatchObject({ key: 'b', location: 'suffix' });
  });

  it('labels runs of lost keys', () => {
    expect(locateRuns([true, true, false, true, false, true])).toEqual(['prefix', 'prefix', undefined, 'middle', undefined, 'suffix']);
    expect(locateRuns([true, true])).toEqual(['all', 'all']);
    expect(locateRuns([])).toEqual([]);
  });

  it('names a value older than the last acknowledged one as stale (LWW)', () => {
    // 1 was acknowledged before 3 began: under LWW 3 must win everywhere.
    const h = history(['a', '1', 0, 5, 'ok'], ['a', '3', 10, 12, 'ok']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: '3' }), replica('db-1', { a: '1' })]);
    expect(r.counts).toMatchObject({ stale: 1, lost: 0 });
    expect(r.anomalies[0]).toMatchObject({ kind: 'stale', replica: 'db-1', found: '1', expected: '3' });
  });

  it('allows either value of writes that overlapped in time', () => {
    const h = history(['a', '1', 0, 10, 'ok'], ['a', '2', 5, 15, 'ok']);
    expect(checkRegisters(h.ops, [replica('db-0', { a: '1' }), replica('db-1', { a: '2' })]).counts.stale).toBe(0);
  });

  it('names a value nobody wrote, or one whose write was refused, as a phantom', () => {
    const h = history(['a', '1', 0, 5, 'ok'], ['b', '2', 6, 9, 'fail']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: 'forged', b: '2' })]);
    expect(r.counts.phantom).toBe(2);
    expect(r.anomalies.map((a) => `${a.kind}:${a.key}:${a.found}`).sort()).toEqual(['phantom:a:forged', 'phantom:b:2']);
  });

  it('names keys held that no operation touched as phantoms', () => {
    const r = checkRegisters(history(['a', '1', 0, 5, 'ok']).ops, [replica('db-0', { a: '1', z: 'from-nowhere' })]);
    expect(r.anomalies).toEqual([expect.objectContaining({ kind: 'phantom', key: 'z' })]);
  });

  it('lets a write in doubt land or not, but not resurrect an older value', () => {
    const h = history(['a', '1', 0, 5, 'ok'], ['b', '2', 6, 9, 'unknown'], ['c', '3', 10, 12, 'unknown']);
    const r = checkRegisters(h.ops, [replica('db-0', { a: '1', b: '2', c: null })]);
    expect(r.valid).toBe(true);
  });

  it('reports keys a replica could not be asked about, and does not call them lost', () => {
    const h = history(['a', '1', 0, 5, 'ok']);
    const r = checkRegisters(h.ops, [replica('db-0', {}, ['a'])]);
    expect(r.counts).toMatchObject({ unreadable: 1, lost: 0 });
    expect(r.valid).toBe(false);
  });

  it('keeps tenants apart: the same key of another tenant is another register', () => {
    const ledger = history(['a', '1', 0, 5, 'ok']);
    ledger.add({ type: 'write', process: 1, tenant: 't2', key: 'a', value: '9', start: 0, end: 5, outcome: 'ok' });
    const values = new Map([[keyOf('t1', 'a'), '1'], [keyOf('t2', 'a'), '1']]);
    const r = checkRegisters(ledger.ops, [{ replica: 'db-0', values }]);
    expect(r.anomalies).toEqual([expect.objectContaining({ kind: 'phantom', tenant: 't2', found: '1' })]);
  });
});

group('checker: convergence', () => {
  it('finds the tenants whose digests differ between replicas', () => {
    const a = replica('db-0', { x: '1', y: '2' });
    const b = replica('db-1', { y: '2', x: '1' });
    expect(divergentTenants([a, b])).toEqual([]);
    const c = replica('db-2', { x: '1', y: '3' });
    const d = divergentTenants([a, b, c]);
    expect(d).toHaveLength(1);
    expect(d[0]!.tenant).toBe('t1');
    expect(d[0]!.digests['db-0']).toBe(d[0]!.digests['db-1']);
    expect(d[0]!.digests['db-2']).not.toBe(d[0]!.digests['db-0']);
  });
});

group('checker: availability', () => {
  const ops = (...list: Array<[end: number, outcome: Outcome]>) => {
    const ledger = new Ledger();
    for (const [end, outcome] of list) ledger.add({ type: 'write', process: 0, tenant: 't1', key: 'k', value: String(end), start: end - 1, end, outcome });
    return ledger.ops;
  };

  it('gives the success ratio of each second, seconds without operations included', () => {
    const s = availabilityPerSecond(ops([100, 'ok'], [900, 'unknown'], [2500, 'ok']));
    expect(s.map((b) => [b.t, b.total, b.ratio])).toEqual([[0, 2, 0.5], [1000, 0, 1], [2000, 1, 1]]);
  });

  it('measures the disruption window and the recovery from the fault to the last failure', () => {
    const d = disruption(ops([500, 'ok'], [1200, 'ok'], [1500, 'unknown'], [2300, 'fail'], [4100, 'unknown'], [4200, 'ok'], [6000, 'ok']), 1000);
    expect(d).toMatchObject({ failed: 3, firstFailure: 1500, lastFailure: 4100, windowMs: 2600, recoveryMs: 3100 });
    expect(d.worstSecond).toBe(0);
  });

  it('reports no disruption when nothing failed after the fault', () => {
    expect(disruption(ops([500, 'unknown'], [1500, 'ok']), 1000)).toMatchObject({ failed: 0, windowMs: 0, recoveryMs: 0, worstSecond: 1 });
  });
});
