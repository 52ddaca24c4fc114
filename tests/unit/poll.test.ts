import { describe, expect, it } from 'vitest';
import { Fatal, NotWithin, eventually, expectSteady, notWithin, observe, pollBound, renderValue } from '../../lib/poll.ts';

/** How far past its bound a wait may end (timer and scheduling slack on a loaded machine). */
const SLACK_MS = 400;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the wait to fail');
}

describe('eventually: the one bounded poller', () => {
  it('resolves with the first accepted value, sampling until then', async () => {
    let n = 0;
    const value = await eventually('n reaches 3', () => ++n, (v) => v >= 3, { timeoutMs: 2_000, intervalMs: 5 });
    expect(value).toBe(3);
    expect(n).toBe(3);
  });

  it('takes async probes, and a value accepted on the first sample returns without waiting', async () => {
    const t0 = Date.now();
    expect(await eventually('ready', async () => ({ ready: true }), (v) => v.ready, { timeoutMs: 5_000, intervalMs: 2_000 })).toEqual({ ready: true });
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('fails with "<what> not within <bound>; last seen <value>", the value rendered compactly', async () => {
    let n = 0;
    const err = await rejection(eventually('replicas at 3', () => ({ replicas: Math.min(++n, 2), pods: ['db-0', 'db-1'] }), (v) => v.replicas === 3, { timeoutMs: 200, intervalMs: 10 }));
    expect(err).toBeInstanceOf(NotWithin);
    expect(err.message).toBe('replicas at 3 not within 0.2 s; last seen {"replicas":2,"pods":["db-0","db-1"]}');
    expect(err.cause).toBeUndefined();
  });

  it('shows the last value with `show` when given', async () => {
    const err = await rejection(eventually('pods ready', () => [{ name: 'db-0', ready: false }], (pods) => pods.every((p) => p.ready),
      { timeoutMs: 100, intervalMs: 10, show: (pods) => pods.map((p) => `${p.name}${p.ready ? '' : ' (not ready)'}`).join(', ') }));
    expect(err.message).toBe('pods ready not within 0.1 s; last seen db-0 (not ready)');
  });

  it('keeps sampling through a probe that throws; on timeout the last error is what was seen, and kept as the cause', async () => {
    const boom = new Error('connect ECONNREFUSED 127.0.0.1:4222');
    let calls = 0;
    const err = await rejection(eventually('NATS up', () => { calls += 1; throw boom; }, () => true, { timeoutMs: 300, intervalMs: 10 }));
    expect(calls).toBeGreaterThan(1);
    expect(err.message).toBe('NATS up not within 0.3 s; last seen error: connect ECONNREFUSED 127.0.0.1:4222');
    expect(err.cause).toBe(boom);
  });

  it('a probe that throws and then answers is a success', async () => {
    let n = 0;
    const value = await eventually('third time', () => { n += 1; if (n < 3) throw new Error(`not yet (${n})`); return n; }, (v) => v === 3, { timeoutMs: 1_000, intervalMs: 5 });
    expect(value).toBe(3);
  });

  it('the last sample decides what was seen: a value after an error clears the error', async () => {
    let n = 0;
    const err = await rejection(eventually('ok', () => { n += 1; if (n === 1) throw new Error('first'); return 'still starting'; }, (v) => v === 'ok', { timeoutMs: 100, intervalMs: 5 }));
    expect(err.message).toBe('ok not within 0.1 s; last seen still starting');
    expect(err.cause).toBeUndefined();
  });

  it('ends at once on Fatal, rethrowing it as it is', async () => {
    const fatal = new Fatal('exited with code 1');
    let calls = 0;
    const t0 = Date.now();
    const err = await rejection(eventually('nats-0 up', () => { calls += 1; throw fatal; }, () => true, { timeoutMs: 5_000, intervalMs: 10 }));
    expect(err).toBe(fatal);
    expect(calls).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('respects its bound: never returns early, and ends soon after it', async () => {
    const t0 = Date.now();
    await rejection(eventually('never', () => false, (v) => v, { timeoutMs: 300, intervalMs: 100 }));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(300 + SLACK_MS);
  });

  it('respects its bound with a probe that never answers, saying so', async () => {
    const t0 = Date.now();
    const err = await rejection(eventually('hung probe', () => new Promise<number>(() => {}), () => true, { timeoutMs: 200 }));
    expect(Date.now() - t0).toBeLessThan(200 + SLACK_MS);
    expect(err.message).toBe('hung probe not within 0.2 s; last seen nothing (a probe still unanswered at the bound)');
  });

  it('respects its bound with a slow probe, keeping the last value it did see', async () => {
    let n = 0;
    const t0 = Date.now();
    const err = await rejection(eventually('slow', async () => { n += 1; if (n > 1) await new Promise((r) => setTimeout(r, 1_000)); return n; }, () => false, { timeoutMs: 200, intervalMs: 10 }));
    expect(Date.now() - t0).toBeLessThan(200 + SLACK_MS);
    expect(err.message).toBe('slow not within 0.2 s; last seen 1 (a probe still unanswered at the bound)');
  });

  it('a late rejection of an abandoned probe is not an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
    process.on('unhandledRejection', onUnhandled);
    try {
      await rejection(eventually('abandoned', () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 80)), () => true, { timeoutMs: 20 }));
      await new Promise((r) => setTimeout(r, 120));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('with a bound of 0 still takes one sample', async () => {
    expect(await eventually('at once', () => 'yes', (v) => v === 'yes', { timeoutMs: 0 })).toBe('yes');
    expect((await rejection(eventually('at once', () => 'no', (v) => v === 'yes', { timeoutMs: 0 }))).message).toBe('at once not within 0.0 s; last seen no');
  });
});

describe('the message format, for runners\' own polls', () => {
  it('notWithin and pollBound phrase a bound as eventually does', () => {
    expect(notWithin('pod 0 ready', 30_000)).toBe('pod 0 ready not within 30.0 s');
    expect(pollBound('pod 0 ready', 2_500)).toEqual({ timeout: 2_500, message: 'pod 0 ready not within 2.5 s' });
  });

  it('renderValue: strings as they are, errors by message, the rest as compact JSON, cut short', () => {
    expect(renderValue('processing')).toBe('processing');
    expect(renderValue(undefined)).toBe('undefined');
    expect(renderValue(null)).toBe('null');
    expect(renderValue(false)).toBe('false');
    expect(renderValue(new Error('refused'))).toBe('error: refused');
    expect(renderValue({ a: 1, b: [true, null] })).toBe('{"a":1,"b":[true,null]}');
    expect(renderValue(new Map([['db-0', 2]]))).toBe('{"db-0":2}');
    expect(renderValue(new Set(['a', 'b']))).toBe('["a","b"]');
    expect(renderValue(10n)).toBe('"10"');
    const long = renderValue('x'.repeat(1_000));
    expect(long).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(renderValue(circular)).toBe('[object Object]');
  });
});

describe('expectSteady: nothing changes for N seconds', () => {
  it('resolves with the value and how many samples agreed', async () => {
    const held = await expectSteady('replicas', () => 2, { forMs: 200, intervalMs: 20 });
    expect(held.value).toBe(2);
    expect(held.samples).toBeGreaterThanOrEqual(2);
  });

  it('fails at the first sample that differs, saying from what to what', async () => {
    let n = 0;
    const err = await rejection(expectSteady('replicas', () => (++n >= 3 ? 3 : 2), { forMs: 1_000, intervalMs: 10 }));
    expect(err.message).toMatch(/^replicas changed from 2 to 3 after \d+\.\d s \(expected steady for 1\.0 s\)$/);
  });
});

describe('observe: an observation window', () => {
  it('samples for the window, timestamped', async () => {
    let n = 0;
    const samples = await observe(async () => ++n, { forMs: 200, intervalMs: 20 });
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples.map((s) => s.value)).toEqual(samples.map((_, i) => i + 1));
  });
});
