import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricReadError, PrometheusQuery } from '../../cluster/autoscaler/metric-sources.ts';
import {
  type InstantData, PrometheusClient, PrometheusError, PrometheusQueryFailed, PrometheusUnavailable, PrometheusUnexpectedResult, scalarOf, vectorOf,
} from '../../lib/prometheus.ts';
import { freePort } from '../helpers/ports.ts';

// lib/prometheus.ts against a stand-in that answers as Prometheus's HTTP API does (the
// answers below are Prometheus 2.x's own shapes); tests/integration/autoscaler.metric-sources
// runs the same client against a real prometheus.

const vector = (...values: Array<[Record<string, string>, string]>): InstantData =>
  ({ resultType: 'vector', result: values.map(([metric, v]) => ({ metric, value: [1_700_000_000.5, v] })) });

describe('scalarOf: KEDA\'s reading of an instant answer', () => {
  it('takes a scalar, or a vector of one series', () => {
    expect(scalarOf({ resultType: 'scalar', result: [1, '4'] }, 'q')).toBe(4);
    expect(scalarOf(vector([{}, '2.5']), 'q')).toBe(2.5);
  });

  it('reads an empty result and NaN/±Inf as 0, or fails on them without ignoreNullValues', () => {
    expect(scalarOf(vector(), 'q')).toBe(0);
    expect(scalarOf(vector([{}, 'NaN']), 'q')).toBe(0);
    expect(scalarOf(vector([{}, '+Inf']), 'q')).toBe(0);
    expect(() => scalarOf(vector(), 'q', { ignoreNullValues: false })).toThrow(/the result is empty/);
    expect(() => scalarOf(vector([{}, '-Inf']), 'q', { ignoreNullValues: false })).toThrow(/returned -Inf/);
  });

  it('refuses several series and values it cannot read, naming the query', () => {
    const two = vector([{ pod: 'a' }, '1'], [{ pod: 'b' }, '2']);
    expect(() => scalarOf(two, 'sum_me')).toThrow(PrometheusUnexpectedResult);
    expect(() => scalarOf(two, 'sum_me')).toThrow(/returned 2 series.*\(query: sum_me\)/);
    expect(() => scalarOf(vector([{}, 'many']), 'q')).toThrow(/unparsable value "many"/);
    expect(() => scalarOf({ resultType: 'matrix', result: [] }, 'q')).toThrow(/expected an instant vector or a scalar, got matrix/);
  });
});

describe('vectorOf', () => {
  it('gives one sample per series, with its labels and time', () => {
    expect(vectorOf(vector([{ pod: 'a' }, '1'], [{ pod: 'b' }, '+Inf']), 'q')).toEqual([
      { metric: { pod: 'a' }, value: 1, at: 1_700_000_000_500 },
      { metric: { pod: 'b' }, value: Number.POSITIVE_INFINITY, at: 1_700_000_000_500 },
    ]);
    expect(vectorOf({ resultType: 'scalar', result: [2, '7'] }, 'q')).toEqual([{ metric: {}, value: 7, at: 2000 }]);
  });
});

describe('PrometheusClient', () => {
  let server: Server;
  let url: string;
  const seen: URL[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      seen.push(u);
      const json = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
      const q = u.searchParams.get('query');
      if (u.pathname === '/api/v1/query' && q === 'sum(up)') return json(200, { status: 'success', data: vector([{}, '3']) });
      if (u.pathname === '/api/v1/query' && q === 'up') return json(200, { status: 'success', data: vector([{ pod: 'a' }, '1'], [{ pod: 'b' }, '0']) });
      if (u.pathname === '/api/v1/query' && q === 'sum(') return json(400, { status: 'error', errorType: 'bad_data', error: '1:5: parse error: unclosed left parenthesis' });
      if (u.pathname === '/api/v1/query' && q === 'html') { res.writeHead(502, { 'content-type': 'text/html' }); return res.end('<html>bad gateway</html>'); }
      if (u.pathname === '/api/v1/query_range') {
        return json(200, { status: 'success', data: { resultType: 'matrix', result: [{ metric: { pod: 'a' }, values: [[10, '1'], [15, '2']] }] } });
      }
      if (u.pathname === '/api/v1/targets') {
        return json(200, { status: 'success', data: { activeTargets: [{ labels: { job: 'db-node', pod: 'p-0' }, scrapePool: 'db-node', scrapeUrl: 'http://p', health: 'up', lastError: '' }] } });
      }
      json(404, { status: 'error', errorType: 'not_found', error: 'no' });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  afterAll(() => { server?.close(); });

  it('runs instant queries: scalar, sum and vector helpers', async () => {
    const prom = new PrometheusClient(url);
    expect(prom.url).toBe(url.slice(0, -1));
    expect(await prom.scalar('sum(up)')).toBe(3);
    expect(await prom.sum('up')).toBe(1);
    expect((await prom.vector('up')).map((s) => [s.metric.pod, s.value])).toEqual([['a', 1], ['b', 0]]);
    await expect(prom.scalar('up')).rejects.toThrow(/returned 2 series/);
  });

  it('runs range queries with the range in seconds, and lists scrape targets', async () => {
    const prom = new PrometheusClient(url);
    expect(await prom.queryRange('rate(x[1m])', { start: 10_000, end: 15_000, stepSeconds: 5 })).toEqual([
      { metric: { pod: 'a' }, points: [{ at: 10_000, value: 1 }, { at: 15_000, value: 2 }] },
    ]);
    const range = seen.find((u) => u.pathname === '/api/v1/query_range')!;
    expect(Object.fromEntries(range.searchParams)).toEqual({ query: 'rate(x[1m])', start: '10', end: '15', step: '5' });
    expect((await prom.activeTargets()).map((t) => [t.labels.pod, t.health])).toEqual([['p-0', 'up']]);
  });

  it('fails with typed errors that name the query and keep the cause', async () => {
    const prom = new PrometheusClient(url);
    const refused = await prom.scalar('sum(').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PrometheusQueryFailed);
    expect(refused).toMatchObject({ query: 'sum(', status: 400, errorType: 'bad_data' });
    expect((refused as Error).message).toMatch(/answered 400: .*parse error/);

    const html = await prom.scalar('html').catch((e: unknown) => e);
    expect(html).toBeInstanceOf(PrometheusUnavailable);
    expect(html).toMatchObject({ status: 502 });
    expect((html as Error).cause).toBeInstanceOf(SyntaxError);

    const down = await new PrometheusClient(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 2_000 }).scalar('sum(up)').catch((e: unknown) => e);
    expect(down).toBeInstanceOf(PrometheusUnavailable);
    expect(down).toBeInstanceOf(PrometheusError);
    expect((down as Error).cause).toBeInstanceOf(Error);
  });

  it('is what the autoscaler\'s scaler reads through: its failures are MetricReadErrors caused by the client\'s', async () => {
    expect(await new PrometheusQuery(url).query('sum(up)')).toBe(3);
    const error = await new PrometheusQuery(url).query('sum(').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricReadError);
    expect((error as MetricReadError).source).toBe('prometheus');
    expect((error as Error).cause).toBeInstanceOf(PrometheusQueryFailed);
  });
});
