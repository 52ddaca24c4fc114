import { type AddressInfo, connect } from 'node:net';
import type { Server } from 'node:http';
import Router from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, listen } from '../../reference-services/shared/http-app.ts';
import { LIMITS, jsonBody, jsonShapeProblem } from '../../reference-services/shared/limits.ts';
import { createLogger } from '../../reference-services/shared/logger.ts';
import { type RawRequest, sendRaw } from './raw-http.ts';

// Each limit of reference-services/shared/limits.ts, shown to hold on the HTTP app every
// service is built from: the status, the error code, and the contract's error body.
let server: Server;
let url: string;
const MAX_BODY = 4096;

beforeAll(async () => {
  const { app, mount } = createHttpApp({ service: 'limits', pod: 'limits-0', zone: 'zone-a', node: 'n' }, createLogger('limits', 'limits-0'));
  const router = new Router();
  router.use(jsonBody({ maxBytes: MAX_BODY }));
  router.get('/things', (ctx) => { ctx.body = { ok: true }; });
  router.post('/things', (ctx) => { ctx.body = { got: ctx.request.body ?? null }; });
  mount(router.routes());
  server = await listen(app, 0, '127.0.0.1');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => { server?.closeAllConnections(); server?.close(); });

const post = (body: string | Buffer, headers: Array<[string, string]> = [['Content-Type', 'application/json']], framing: RawRequest['framing'] = 'length'): RawRequest =>
  ({ method: 'POST', target: '/things', headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), framing });

async function expectRefused(req: RawRequest, status: number, error: string) {
  const res = await sendRaw(url, req);
  expect(res.kind).toBe('response');
  if (res.kind !== 'response') return res;
  expect(res.status, res.body.toString()).toBe(status);
  const body = JSON.parse(res.body.toString()) as { error: string; reason: string };
  expect(body.error).toBe(error);
  expect(body.reason.length).toBeGreaterThan(0);
  return res;
}

describe('limits', () => {
  it('accepts a body within every limit (the baseline the refusals differ from)', async () => {
    const res = await sendRaw(url, post(JSON.stringify({ a: [1, 2, { b: 'c' }] })));
    expect(res.kind === 'response' && res.status).toBe(200);
  });

  it('431 for a request line and headers over maxHeaderBytes', async () => {
    await expectRefused({ method: 'GET', target: '/things', headers: [['X-Pad', 'x'.repeat(LIMITS.maxHeaderBytes)]] }, 431, 'headers_too_large');
  });

  it('414 for a URL over maxUrlBytes, and for more than maxQueryParams parameters', async () => {
    await expectRefused({ method: 'GET', target: `/things?q=${'x'.repeat(LIMITS.maxUrlBytes)}`, headers: [] }, 414, 'uri_too_long');
    const many = Array.from({ length: LIMITS.maxQueryParams + 1 }, (_, i) => `p${i}=1`).join('&');
    await expectRefused({ method: 'GET', target: `/things?${many}`, headers: [] }, 414, 'uri_too_long');
  });

  it('400 for a path or query that does not percent-decode to UTF-8, and for NUL in the path', async () => {
    await expectRefused({ method: 'GET', target: '/things/%c3%28', headers: [] }, 400, 'invalid_path');
    await expectRefused({ method: 'GET', target: '/things%00', headers: [] }, 400, 'invalid_path');
    await expectRefused({ method: 'GET', target: '/things?q=%zz', headers: [] }, 400, 'invalid_query');
  });

  it('405 with Allow for a method the path does not take, known to Node or not; OPTIONS answers Allow', async () => {
    for (const method of ['TRACE', 'DELETE', 'PATCH']) {
      const res = await expectRefused({ method, target: '/things', headers: [] }, 405, 'method_not_allowed');
      expect(res.kind === 'response' && res.headers.allow).toBe('HEAD, GET, POST, OPTIONS');
    }
    const unknown = await expectRefused({ method: 'FOO', target: '/things', headers: [] }, 405, 'method_not_allowed');
    expect(unknown.kind === 'response' && unknown.headers.allow).toBe('HEAD, GET, POST, OPTIONS');
    const connect = await expectRefused({ method: 'CONNECT', target: '/things', headers: [] }, 405, 'method_not_allowed');
    expect(connect.kind === 'response' && connect.headers.allow).toBeTruthy();
    const probe = await expectRefused({ method: 'POST', target: '/health', headers: [] }, 405, 'method_not_allowed');
    expect(probe.kind === 'response' && probe.headers.allow).toBe('GET, HEAD, OPTIONS');
    const options = await sendRaw(url, { method: 'OPTIONS', target: '/things', headers: [] });
    expect(options.kind === 'response' && [options.status, options.headers.allow]).toEqual([204, 'HEAD, GET, POST, OPTIONS']);
  });

  it('a peer that resets the connection after a refused upgrade or CONNECT does not take the service down', async () => {
    // Node hands such a socket over without an 'error' listener; a proxy that resets it (as
    // HAProxy does when it gives up on the exchange) raised an unhandled 'error' and killed
    // the process. Reset right as the answer arrives, while the service's side is still open.
    const resetAfterAnswer = (request: string) => new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      socket.once('data', (answer) => { socket.resetAndDestroy(); resolve(answer.toString('latin1').split('\r\n', 1)[0] ?? ''); });
      socket.once('error', reject);
      socket.write(request);
    });
    for (let i = 0; i < 5; i += 1) {
      expect(await resetAfterAnswer('GET /things HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
      expect(await resetAfterAnswer('CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n')).toMatch(/^HTTP\/1\.1 405/);
    }
    const alive = await sendRaw(url, { method: 'GET', target: '/things', headers: [] });
    expect(alive.kind === 'response' && alive.status).toBe(200);
  });

  it('408 with the reason for a client that does not finish its headers, or its body, in time', async () => {
    const { app, mount } = createHttpApp({ service: 'limits', pod: 'slow-0', zone: 'zone-a', node: 'n' }, createLogger('limits', 'slow-0'));
    const router = new Router();
    router.use(jsonBody({ maxBytes: MAX_BODY }));
    router.post('/things', (ctx) => { ctx.body = { got: ctx.request.body ?? null }; });
    mount(router.routes());
    const bounds = { headersMs: 500, requestMs: 1_000 };
    const slow = await listen(app, 0, '127.0.0.1', '', bounds);
    try {
      const port = (slow.address() as AddressInfo).port;
      /** Sends the start of a request, never the rest, and reads what comes back before the close. */
      const stall = (start: string) => new Promise<{ answer: string; ms: number }>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        const started = Date.now();
        let answer = '';
        socket.on('data', (d) => { answer += d.toString('latin1'); });
        socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
        socket.on('error', reject);
        socket.write(start);
      });
      // The bound plus Node's checking interval plus a margin for a busy machine.
      const within = bounds.requestMs + 1_000 + 3_000;
      for (const start of ['POST /things HTTP/1.1\r\nHost: x\r\nContent-Ty', 'POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"a":']) {
        const { answer, ms } = await stall(start);
        expect(answer, `answered after ${ms} ms`).toMatch(/^HTTP\/1\.1 408 /);
        expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'request_timeout' });
        expect(ms, `408 within ${within} ms`).toBeLessThan(within);
      }
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('415 for another media type, a charset other than UTF-8, and any content coding', async () => {
    await expectRefused(post('{}', [['Content-Type', 'text/plain']]), 415, 'unsupported_media_type');
    await expectRefused(post('{}', [['Content-Type', 'application/json; charset=latin1']]), 415, 'unsupported_media_type');
    const coded = await expectRefused(post('{}', [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']]), 415, 'unsupported_media_type');
    expect(coded.kind === 'response' && coded.headers['accept-encoding']).toBe('identity');
  });

  it('413 for a body over the limit, declared or streamed in chunks', async () => {
    const big = JSON.stringify({ a: 'x'.repeat(MAX_BODY) });
    await expectRefused(post(big), 413, 'payload_too_large');
    await expectRefused(post(big, undefined, 'chunked'), 413, 'payload_too_large');
  });

  it('400 for bytes that are not UTF-8 and text that is not JSON', async () => {
    await expectRefused(post(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')])), 400, 'invalid_encoding');
    await expectRefused(post('{"a":'), 400, 'bad_request');
  });

  it('400 for JSON beyond the depth, string, array and object limits, repeated names and huge numbers', async () => {
    const deep = (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`;
    const ok = await sendRaw(url, post(deep(LIMITS.maxJsonDepth)));
    expect(ok.kind === 'response' && ok.status).toBe(200);
    await expectRefused(post(deep(LIMITS.maxJsonDepth + 1)), 400, 'json_too_deep');
    // Deep enough to overflow any recursive walk of the value (the seal step's JSON.stringify did).
    await expectRefused(post(deep(2000)), 400, 'json_too_deep');
    // The string and object limits lie beyond this app's 4 KiB body: checked on the text itself.
    expect(jsonShapeProblem(JSON.stringify(['x'.repeat(LIMITS.maxJsonStringLength)]))).toBeUndefined();
    expect(jsonShapeProblem(JSON.stringify(['x'.repeat(LIMITS.maxJsonStringLength + 1)]))?.code).toBe('json_limit');
    const members = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0])));
    expect(jsonShapeProblem(members(LIMITS.maxJsonObjectMembers))).toBeUndefined();
    expect(jsonShapeProblem(members(LIMITS.maxJsonObjectMembers + 1))?.code).toBe('json_limit');
    expect(jsonShapeProblem(`[${Array(LIMITS.maxJsonArrayLength).fill(0).join(',')}]`)).toBeUndefined();
    const arr = `[${Array(LIMITS.maxJsonArrayLength + 1).fill(0).join(',')}]`;
    await expectRefused(post(arr), 400, 'json_limit');
    await expectRefused(post('{"a":1,"a":2}'), 400, 'duplicate_key');
    await expectRefused(post('{"a":1e400}'), 400, 'number_out_of_range');
  });

  it('417 for an expectation other than 100-continue; 400 for a protocol upgrade and for bytes that are not HTTP', async () => {
    await expectRefused({ method: 'GET', target: '/things', headers: [['Expect', 'nope']] }, 417, 'expectation_failed');
    await expectRefused({ method: 'GET', target: '/things', headers: [['Connection', 'Upgrade'], ['Upgrade', 'websocket']] }, 400, 'upgrade_not_supported');
    await expectRefused(post('{}', [['Content-Type', 'application/json'], ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']], 'none'), 400, 'bad_request');
  });
});
