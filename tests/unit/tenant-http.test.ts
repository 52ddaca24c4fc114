import { once } from 'node:events';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantClient, sendAs, sendRequest, tenantHeaders, urlOf } from '../../lib/http.ts';
import { SERVED_BY_HEADER, TENANT_HEADER, ZONE_HEADER } from '../../lib/names.ts';
import { TrafficStats, fmtOutcomes } from '../../lib/traffic-stats.ts';
import { freePort } from '../helpers/ports.ts';

describe('tenantHeaders: the one place a request says who it is from', () => {
  it('a tenant: the bearer token and X-Tenant-ID', () => {
    expect(tenantHeaders({ tenant: 'tenant-a', token: 't0k' })).toEqual({ authorization: 'Bearer t0k', [TENANT_HEADER]: 'tenant-a' });
  });

  it('the gateway and admin calls: the token alone', () => {
    expect(tenantHeaders({ token: 'adm' })).toEqual({ authorization: 'Bearer adm' });
  });

  it('extra headers come last, so a test can name another tenant on purpose', () => {
    expect(tenantHeaders({ tenant: 'tenant-a', token: 't' }, { [TENANT_HEADER]: 'tenant-b', 'content-type': 'application/json' }))
      .toEqual({ authorization: 'Bearer t', [TENANT_HEADER]: 'tenant-b', 'content-type': 'application/json' });
  });
});

describe('urlOf', () => {
  it('joins a base and a path whatever the slashes, and keeps the path as given', () => {
    expect(urlOf('http://lb:1', '/api/v1/resources?limit=1')).toBe('http://lb:1/api/v1/resources?limit=1');
    expect(urlOf('http://lb:1/', '/health')).toBe('http://lb:1/health');
    expect(urlOf('http://lb:1', 'health')).toBe('http://lb:1/health');
    expect(urlOf('http://lb:1', '/api/v1/resources/..%2Fx')).toBe('http://lb:1/api/v1/resources/..%2Fx');
  });
});

describe('sending as a tenant', () => {
  let server: Server;
  let base: string;
  const received: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        if (req.url === '/slow') return; // never answers
        if (req.url === '/boom') { res.writeHead(503, { [SERVED_BY_HEADER]: 'pod-1' }); return res.end('down'); }
        res.writeHead(200, { 'content-type': 'application/json', [SERVED_BY_HEADER]: 'pod-0', [ZONE_HEADER]: 'zone-a' });
        res.end(JSON.stringify({ ok: true, echo: req.headers['content-type'] === 'application/json' ? JSON.parse(body) : null }));
      });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => { server?.closeAllConnections(); server?.close(); });

  it('TenantClient.request: token, tenant, JSON body; the answer with the pod and zone that served it', async () => {
    const c = new TenantClient(base, 'tenant-a', 'tok');
    const res = await c.request('POST', '/api/v1/resources', { title: 'x' }, { headers: { 'x-request-id': 'r1' } });
    expect(res).toMatchObject({ status: 200, body: { ok: true, echo: { title: 'x' } }, servedBy: 'pod-0', zone: 'zone-a' });
    const seen = received.at(-1)!;
    expect(seen.headers).toMatchObject({ authorization: 'Bearer tok', [TENANT_HEADER]: 'tenant-a', 'x-request-id': 'r1', 'content-type': 'application/json' });
    expect(c.credentials).toEqual({ tenant: 'tenant-a', token: 'tok' });
    expect(c.at(`${base}/`).baseUrl).toBe(`${base}/`);
  });

  it('TenantClient.request throws when no answer comes within its timeout', async () => {
    const c = new TenantClient(base, 'tenant-a', 'tok', { timeoutMs: 200 });
    await expect(c.request('GET', '/slow')).rejects.toThrow();
    await expect(new TenantClient(base, 'tenant-a', 'tok').request('GET', '/slow', undefined, { timeoutMs: 100 })).rejects.toThrow();
  });

  it('sendAs never throws: a status, or the failure by name, with the time it took', async () => {
    const ok = await sendAs(base, { tenant: 'tenant-a', token: 'tok' }, { method: 'GET', path: '/api/v1/resources' }, { timeoutMs: 5_000 });
    expect(ok).toMatchObject({ outcome: { status: 200 }, pod: 'pod-0' });
    expect(ok.ms).toBeGreaterThan(0);
    const down = await sendAs(base, { tenant: 'tenant-a', token: 'tok' }, { method: 'GET', path: '/boom' }, { timeoutMs: 5_000 });
    expect(down).toMatchObject({ outcome: { status: 503 }, pod: 'pod-1' });
    const slow = await sendAs(base, { tenant: 'tenant-a', token: 'tok' }, { method: 'GET', path: '/slow' }, { timeoutMs: 100 });
    expect(slow).toMatchObject({ outcome: { failure: 'timeout' }, pod: null });
    const refused = await sendAs(`http://127.0.0.1:${await freePort()}`, { tenant: 'tenant-a', token: 'tok' }, { method: 'GET', path: '/' }, { timeoutMs: 2_000 });
    expect(refused.outcome).toEqual({ failure: 'ECONNREFUSED' });
    const aborted = new AbortController();
    aborted.abort();
    expect((await sendAs(base, { token: 'tok' }, { method: 'GET', path: '/' }, { timeoutMs: 2_000, signal: aborted.signal })).outcome).toEqual({ failure: 'aborted' });
  });

  it('sendRequest sends a body of its own (a form) as given', async () => {
    const form = new FormData();
    form.set('file', new Blob(['hello']), 'a.txt');
    await sendRequest(base, { token: 'tok' }, { method: 'POST', path: '/upload', body: form });
    const seen = received.at(-1)!;
    expect(seen.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen.headers[TENANT_HEADER]).toBeUndefined();
    expect(seen.body).toContain('hello');
  });
});

describe('TrafficStats: one tally for the suite\'s background traffic and the CLI\'s commands', () => {
  it('counts outcomes, operations, pods and latency, and tells failures from client errors', () => {
    const s = new TrafficStats();
    s.recordSent('read'); s.recordOutcome({ status: 200 }, 3, 'pod-0');
    s.recordSent('write'); s.recordOutcome({ status: 429 }, 1, 'pod-0');
    s.recordSent(); s.recordOutcome({ status: 503 }, 2, 'pod-1');
    s.recordSent(); s.recordOutcome({ failure: 'ECONNREFUSED' }, 1, null);
    s.recordSent(); s.recordOutcome({ failure: 'aborted' }, 1, null);
    s.dropped = 2;
    const snap = s.snapshot();
    expect(snap).toMatchObject({
      sent: 5, answered: 3, dropped: 2, errors: 4, serverErrors: 2,
      outcomes: { 200: 1, 429: 1, 503: 1, ECONNREFUSED: 1, aborted: 1 }, operations: { read: 1, write: 1 }, pods: { 'pod-0': 2, 'pod-1': 1 },
    });
    expect(snap.latency.count).toBe(3);
    expect(s.failures()).toEqual({ 503: 1, ECONNREFUSED: 1 });
    expect(fmtOutcomes(snap.outcomes)).toBe('200:1 429:1 503:1 aborted:1 ECONNREFUSED:1');
  });

  it('merges per-tenant stats into a total, and resets the progress window only', () => {
    const a = new TrafficStats();
    const b = new TrafficStats();
    a.recordSent('read'); a.recordOutcome({ status: 200 }, 5, 'p0');
    b.recordSent('read'); b.recordOutcome({ status: 200 }, 7, 'p1');
    const total = new TrafficStats();
    total.merge(a);
    total.merge(b);
    expect(total.snapshot()).toMatchObject({ sent: 2, answered: 2, operations: { read: 2 }, pods: { p0: 1, p1: 1 } });
    expect(total.windowAnswered).toBe(2);
    total.resetWindow();
    expect([total.windowAnswered, total.window.summary().count, total.latency.summary().count]).toEqual([0, 0, 2]);
    expect(new TrafficStats().failures()).toEqual({});
  });
});
