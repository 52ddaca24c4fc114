import fc from 'fast-check';
import type { Contract } from '../../reference-services/shared/contract.ts';
import { LIMITS } from '../../reference-services/shared/limits.ts';
import type { RawRequest } from './raw-http.ts';

/**
 * Requests that break an operation's contract, one dimension a client controls at a
 * time (method, path, query, headers, framing, body), built from the OpenAPI document so
 * that every operation is covered. Each one must be refused: it carries `why`, the
 * answer the service owes it is a 4xx.
 */
export interface Operation {
  method: string;
  template: string;
  pathParams: string[];
  queryParams: string[];
  /** The schema of a JSON body, or 'multipart' for the gateway's upload. */
  body?: { schema: string; required: boolean } | 'multipart';
  security: 'tenant' | 'admin' | 'none';
}

export interface HostileRequest extends RawRequest {
  op: string;
  why: string;
}

/** What a service needs to build a request that would otherwise be accepted. */
export interface FuzzTarget {
  contract: Contract;
  ops: Operation[];
  tenant: string;
  token: string;
  otherTenant: string;
  otherToken: string;
  adminToken?: string;
  /** db-node: X-Tenant-ID must name the token's tenant; the gateway ignores it. */
  tenantHeader: boolean;
  /** A valid value for each path parameter name. */
  validParams: Record<string, string>;
  /** A valid JSON body for each schema name (db-node) and the upload limit (gateway). */
  validBodies: Record<string, unknown>;
  maxUploadBytes?: number;
}

export function operationsOf(contract: Contract): Operation[] {
  const ops: Operation[] = [];
  const doc = contract.doc as unknown as {
    paths: Record<string, Record<string, { parameters?: Array<{ name?: string; in?: string; $ref?: string }>; requestBody?: { required?: boolean; content: Record<string, { schema?: { $ref?: string } }> }; security?: Array<Record<string, unknown>> }>>;
    components: { parameters?: Record<string, { name: string; in: string }> };
    security?: Array<Record<string, unknown>>;
  };
  const resolve = (p: { name?: string; in?: string; $ref?: string }) => (p.$ref ? doc.components.parameters![p.$ref.split('/').pop()!]! : p) as { name: string; in: string };
  for (const [template, item] of Object.entries(doc.paths)) {
    const shared = ((item as { parameters?: [] }).parameters ?? []).map(resolve);
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      const params = [...shared, ...(op.parameters ?? []).map(resolve)];
      const json = op.requestBody?.content['application/json'];
      const security = op.security ?? doc.security ?? [];
      ops.push({
        method: method.toUpperCase(), template,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: params.filter((p) => p.in === 'query').map((p) => p.name),
        body: op.requestBody?.content['multipart/form-data'] ? 'multipart'
          : json ? { schema: json.schema!.$ref!.split('/').pop()!, required: op.requestBody?.required ?? false } : undefined,
        security: security.length === 0 ? 'none' : 'adminToken' in security[0]! ? 'admin' : 'tenant',
      });
    }
  }
  return ops;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'LINK', 'PURGE', 'get', 'FOO', 'M-SEARCH'];
/** Path parameter values that no contract pattern takes (ids and tenant names alike). */
const BAD_SEGMENTS = [
  '..', '.', '%2e%2e', '%00', 'a%00b', '%', '%zz', '%c3%28', '%ff', '%e2%82', 'a%2Fb', 'a.b', 'a b'.replace(' ', '%20'),
  'é', '%C3%A9', '%F0%9F%92%A9', 'Ｆ', 'x'.repeat(129), 'A-'.repeat(70), 'a:b', 'a@b', '%5c', '<script>', "'", '"',
  'a;b', 'a,b', '*', 'x'.repeat(LIMITS.maxUrlBytes + 10),
];
/** Values an object id takes (`[A-Za-z0-9_-]`) but a tenant name does not. */
const BAD_TENANT_SEGMENTS = ['-a', 'a-', 'A', 'a_b'];
const badSegmentsFor = (param: string) => (param === 'tenant' ? [...BAD_SEGMENTS, ...BAD_TENANT_SEGMENTS] : BAD_SEGMENTS);
const BAD_QUERIES: Record<string, string[]> = {
  limit: ['0', '101', '-1', 'abc', '1.5', '1e400', '', '99999999999999999999', 'NaN', 'Infinity', '1&limit=2', '%'],
  query: ['x'.repeat(501), 'a&query=b', '%zz', '%c3%28'],
};
const ANY_QUERY = ['%', '%zz', 'a=%c3%28', '%ff=1', Array.from({ length: LIMITS.maxQueryParams + 1 }, (_, i) => `p${i}=1`).join('&'), `q=${'x'.repeat(LIMITS.maxUrlBytes)}`];
const PARSER_BREAKERS: Array<[string, Array<[string, string]>]> = [
  ['header over the size limit', [['X-Padding', 'x'.repeat(LIMITS.maxHeaderBytes + 100)]]],
  ['NUL in a header value', [['X-Bad', 'a\u0000b']]],
  ['space in a header name', [['X Bad', '1']]],
  ['two different Content-Lengths', [['Content-Length', '1'], ['Content-Length', '2']]],
  ['Content-Length beside chunked', [['Content-Length', '5'], ['Transfer-Encoding', 'chunked']]],
  ['a transfer coding that is not chunked', [['Transfer-Encoding', 'gzip']]],
  ['Content-Length that is not a number', [['Content-Length', 'abc']]],
  ['negative Content-Length', [['Content-Length', '-1']]],
  ['an expectation nobody meets', [['Expect', '200-ok']]],
  ['a request to switch protocols', [['Connection', 'Upgrade'], ['Upgrade', 'h2c']]],
];
const BAD_TENANT_HEADERS = ['', 'TENANT', 'tenant a', '-tenant', 'a'.repeat(64), 'tenant_a', 'ténant', '*'];
const BAD_AUTH = ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer garbage', 'Bearer a.b.c',
  'Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJ0ZW5hbnQtZnV6eiIsInRpZXIiOiJzbWFsbCJ9.', `Bearer ${'x'.repeat(9000)}`];
const BAD_CONTENT_TYPES = ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/json-seq', 'garbage', 'application/json; charset=latin1', 'application/json; charset=utf-16',
  'application/json; charset=iso-8859-1', 'application/json;charset=utf-7', 'application/vnd.api+json', ';;;'];
const BAD_ENCODINGS = ['gzip', 'br', 'deflate', 'x-unknown', 'gzip, identity', 'compress'];

function fill(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? 'x');
}

function base(target: FuzzTarget, op: Operation, params: Record<string, string> = target.validParams): { method: string; target: string; headers: Array<[string, string]> } {
  const headers: Array<[string, string]> = [];
  if (op.security === 'tenant') headers.push(['Authorization', `Bearer ${target.token}`]);
  if (op.security === 'admin' && target.adminToken) headers.push(['Authorization', `Bearer ${target.adminToken}`]);
  if (op.security === 'tenant' && target.tenantHeader) headers.push(['X-Tenant-ID', target.tenant]);
  return { method: op.method, target: fill(op.template, params), headers };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function validBody(target: FuzzTarget, op: Operation): { body?: Buffer; headers: Array<[string, string]> } {
  if (!op.body || op.body === 'multipart') return { headers: [] };
  return { body: json(target.validBodies[op.body.schema]), headers: [['Content-Type', 'application/json']] };
}

/** `[` × n, a value, `]` × n: deeper than any parser that recurses can take at n in the thousands. */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/** JSON bodies that break the schema or the limits, as text (so duplicate names and raw bytes survive). */
function hostileJsonBodies(target: FuzzTarget, op: Operation & { body: { schema: string } }): fc.Arbitrary<{ why: string; body: Buffer }> {
  const validate = target.contract.schema(op.body.schema);
  const valid = target.validBodies[op.body.schema] as Record<string, unknown>;
  const firstKey = Object.keys(valid)[0] ?? 'x';
  const withValue = (raw: string) => Buffer.from(JSON.stringify({ ...valid, [firstKey]: '__HOLE__' }).replace('"__HOLE__"', raw));
  const inProperty = (raw: string) => Buffer.from(`{"properties":{"p":${raw}}}`);
  const shaped = op.body.schema === 'EntityInput' ? inProperty : withValue;
  return fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).filter((v) => !validate(v)).map((v) => ({ why: 'a body that breaks the schema', body: json(v) })),
    fc.integer({ min: LIMITS.maxJsonDepth + 1, max: 20_000 }).map((d) => ({ why: `JSON nested ${d} deep`, body: shaped(nested(d)) })),
    fc.constantFrom(
      { why: 'a repeated member name', body: Buffer.from(`{"${firstKey}":1,${JSON.stringify(valid).slice(1)}`) },
      { why: 'a number beyond a double', body: shaped('1e400') },
      { why: 'a negative number beyond a double', body: shaped('-1e999') },
      { why: 'a string over the length limit', body: shaped(JSON.stringify('x'.repeat(LIMITS.maxJsonStringLength + 1))) },
      { why: 'an array over the length limit', body: shaped(`[${Array(LIMITS.maxJsonArrayLength + 1).fill(0).join(',')}]`) },
      { why: 'an object over the member limit', body: shaped(JSON.stringify(Object.fromEntries(Array.from({ length: LIMITS.maxJsonObjectMembers + 1 }, (_, i) => [`k${i}`, 0])))) },
      { why: 'invalid UTF-8 in a string', body: Buffer.concat([Buffer.from(`{"${firstKey}":"a`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]) },
      { why: 'a lone surrogate byte sequence', body: Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]) },
      { why: 'text that is not JSON', body: Buffer.from('{"a":') },
      { why: 'single quotes', body: Buffer.from("{'a':1}") },
      { why: 'a trailing comma', body: Buffer.from('{"a":1,}') },
      { why: 'two JSON texts', body: Buffer.from('{}{}') },
      { why: 'a body over the size limit', body: Buffer.from(JSON.stringify({ ...valid, [firstKey]: 'x'.repeat(LIMITS.maxJsonBodyBytes) })) },
      { why: 'a "__proto__" member beside the schema', body: Buffer.from(`{"__proto__":{"polluted":true},${JSON.stringify(valid).slice(1)}`) },
      { why: 'an extra member', body: Buffer.from(JSON.stringify({ ...valid, extra: 1 })) },
    ).filter(({ body }) => op.body.schema !== 'EntityInput' || !validate(safeParse(body))),
  );
}

function safeParse(body: Buffer): unknown {
  try { return JSON.parse(body.toString()); } catch { return Symbol('not json'); }
}

/** One hostile request for one operation. */
export function hostileRequest(target: FuzzTarget, op: Operation): fc.Arbitrary<HostileRequest> {
  const name = `${op.method} ${op.template}`;
  const withOp = (why: string, req: RawRequest): HostileRequest => ({ ...req, op: name, why });
  const valid = () => {
    const b = base(target, op);
    const body = validBody(target, op);
    return { ...b, body: body.body, headers: [...b.headers, ...body.headers] };
  };
  const kinds: Array<fc.Arbitrary<HostileRequest>> = [];
  const allowed = new Set(target.ops.filter((o) => o.template === op.template).flatMap((o) => (o.method === 'GET' ? ['GET', 'HEAD'] : [o.method])));

  kinds.push(fc.constantFrom(...METHODS.filter((m) => !allowed.has(m))).map((method) => {
    return withOp(`method ${method}`, { ...valid(), method });
  }));

  if (op.pathParams.length > 0) {
    kinds.push(fc.constantFrom(...op.pathParams).chain((param) => fc.record({ param: fc.constant(param), value: fc.constantFrom(...badSegmentsFor(param)) })).map(({ param, value }) => {
      const req = valid();
      return withOp(`path parameter ${param} = ${value.slice(0, 40)}`, { ...req, target: fill(op.template, { ...target.validParams, [param]: value }) });
    }));
  }
  kinds.push(fc.constantFrom('/..', '/../..', '/%2e%2e/admin', '/x', '//', '/%00', '/.%2e').map((suffix) => {
    const req = valid();
    return withOp(`path with ${suffix}`, { ...req, target: `${req.target}${suffix}` });
  }));

  const queries = [...ANY_QUERY.map((q) => ({ q, why: 'a query that does not decode or is too big' })),
    ...op.queryParams.flatMap((p) => (BAD_QUERIES[p] ?? []).map((v) => ({ q: `${p}=${v}`, why: `query ${p} out of contract` })))];
  kinds.push(fc.constantFrom(...queries).map(({ q, why }) => {
    const req = valid();
    return withOp(`${why}: ${q.slice(0, 40)}`, { ...req, target: `${req.target}?${q}` });
  }));

  kinds.push(fc.constantFrom(...PARSER_BREAKERS).map(([why, headers]) => {
    const req = valid();
    const framing = headers.some(([h]) => /content-length|transfer-encoding/i.test(h)) ? 'none' as const : undefined;
    return withOp(why, { ...req, headers: [...req.headers, ...headers], framing, body: framing ? Buffer.from('{"a":1}') : req.body });
  }));

  if (op.security !== 'none') {
    kinds.push(fc.constantFrom(...BAD_AUTH, ...(target.tenantHeader ? [`Bearer ${target.otherToken}`] : [])).map((auth) => {
      const req = valid();
      const headers = req.headers.filter(([h]) => h !== 'Authorization');
      return withOp(`authorization "${auth.slice(0, 30)}"`, { ...req, headers: auth === '' ? headers : [...headers, ['Authorization', auth]] });
    }));
  }
  if (op.security === 'tenant' && target.tenantHeader) {
    kinds.push(fc.constantFrom(...BAD_TENANT_HEADERS, 'TWO', target.otherTenant, `${target.tenant}, ${target.otherTenant}`).map((value) => {
      const req = valid();
      const headers = req.headers.filter(([h]) => h !== 'X-Tenant-ID');
      if (value === 'TWO') return withOp('X-Tenant-ID twice', { ...req, headers: [...headers, ['X-Tenant-ID', target.tenant], ['X-Tenant-ID', target.otherTenant]] });
      return withOp(`X-Tenant-ID "${value}"`, { ...req, headers: value === '' ? headers : [...headers, ['X-Tenant-ID', value]] });
    }));
  }

  if (op.body && op.body !== 'multipart') {
    const jsonOp = op as Operation & { body: { schema: string; required: boolean } };
    kinds.push(fc.record({
      contentType: fc.constantFrom(...BAD_CONTENT_TYPES, ''),
      framing: fc.constantFrom('length' as const, 'chunked' as const),
    }).map(({ contentType, framing }) => {
      const req = valid();
      const headers = req.headers.filter(([h]) => h !== 'Content-Type');
      return withOp(`content type "${contentType}"`, { ...req, framing, headers: contentType ? [...headers, ['Content-Type', contentType]] : headers });
    }));
    kinds.push(fc.constantFrom(...BAD_ENCODINGS).map((encoding) => {
      const req = valid();
      return withOp(`content encoding ${encoding}`, { ...req, headers: [...req.headers, ['Content-Encoding', encoding]] });
    }));
    kinds.push(fc.record({ body: hostileJsonBodies(target, jsonOp), framing: fc.constantFrom('length' as const, 'chunked' as const) }).map(({ body, framing }) => {
      const req = valid();
      return withOp(`${body.why} (${framing})`, { ...req, body: body.body, framing });
    }));
    kinds.push(fc.constantFrom('short' as const, 'long' as const).map((framing) => {
      const req = valid();
      return withOp(`a Content-Length that lies (${framing})`, { ...req, framing });
    }));
    if (jsonOp.body.required) {
      kinds.push(fc.constant(withOp('no body', { ...valid(), body: Buffer.alloc(0), framing: 'length' })));
    }
  }
  if (op.body === 'multipart') {
    kinds.push(hostileMultipart(target).map(({ why, headers, ...req }) => {
      const b = base(target, op);
      return withOp(why, { ...b, ...req, headers: [...b.headers, ...headers] });
    }));
  }
  return fc.oneof(...kinds);
}

const CRLF = '\r\n';
interface Part { name: string; filename?: string; disposition?: string; content: Buffer; extraHeaders?: string[] }

function multipart(boundary: string, parts: Part[], close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = p.disposition ?? `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}${CRLF}Content-Disposition: ${disposition}${CRLF}${(p.extraHeaders ?? []).map((h) => `${h}${CRLF}`).join('')}Content-Type: application/octet-stream${CRLF}${CRLF}`, 'latin1'), p.content, Buffer.from(CRLF));
  }
  if (close) chunks.push(Buffer.from(`--${boundary}--${CRLF}`));
  return Buffer.concat(chunks);
}

const BAD_FILE_NAMES = ['../x', '../../etc/passwd', 'a/b', 'a\\b', '.', '..', '', 'a\u0001b', 'a\u007fb', '\u001b[31mred', 'x'.repeat(300), 'é'.repeat(200)];

/** Uploads that must be refused: truncated, flooded, misnamed, oversized, mislabelled, lying. */
type Upload = { why: string; headers: Array<[string, string]>; body: Buffer; framing?: RawRequest['framing'] };
function hostileMultipart(target: FuzzTarget): fc.Arbitrary<Upload> {
  const boundary = 'fuzzboundary7MA4YWxkTrZu0gW';
  const type: [string, string] = ['Content-Type', `multipart/form-data; boundary=${boundary}`];
  const file = (content = Buffer.from('hello')) => ({ name: 'file', filename: 'a.txt', content });
  const max = target.maxUploadBytes ?? LIMITS.maxUploadBytes;
  return fc.oneof<Array<fc.Arbitrary<Upload>>>(
    fc.integer({ min: 1, max: multipart(boundary, [file()]).length - 3 }).map((cut) => ({ why: `a body cut after ${cut} bytes`, headers: [type], body: multipart(boundary, [file()]).subarray(0, cut) })),
    fc.integer({ min: LIMITS.maxUploadParts + 1, max: 300 }).map((n) => ({ why: `${n} parts`, headers: [type], body: multipart(boundary, [...Array.from({ length: n }, (_, i) => ({ name: `f${i}`, content: Buffer.from('v') })), file()]) })),
    fc.constantFrom(...BAD_FILE_NAMES).map((filename) => ({ why: `file name "${filename.slice(0, 20)}"`, headers: [type], body: multipart(boundary, [{ ...file(), filename }]) })),
    fc.constantFrom("UTF-8''..%2F..%2Fetc%2Fpasswd", "UTF-8''%2Fetc", "UTF-8''a%00b", "UTF-8''..").map((star) => ({
      why: `file name* ${star}`, headers: [type], body: multipart(boundary, [{ ...file(), disposition: `form-data; name="file"; filename*=${star}` }]),
    })),
    fc.constantFrom<Upload>(
      { why: 'two file parts', headers: [type], body: multipart(boundary, [file(), file()]) },
      { why: 'the file under another name', headers: [type], body: multipart(boundary, [{ ...file(), name: 'document' }]) },
      { why: 'no file part', headers: [type], body: multipart(boundary, [{ name: 'note', content: Buffer.from('x') }]) },
      { why: 'no parts at all', headers: [type], body: Buffer.from(`--${boundary}--${CRLF}`) },
      { why: 'no closing boundary', headers: [type], body: multipart(boundary, [file()], false) },
      { why: 'no boundary parameter', headers: [['Content-Type', 'multipart/form-data']] as Array<[string, string]>, body: multipart(boundary, [file()]) },
      { why: 'a boundary the body does not use', headers: [['Content-Type', 'multipart/form-data; boundary=other']] as Array<[string, string]>, body: multipart(boundary, [file()]) },
      { why: 'not multipart', headers: [['Content-Type', 'application/octet-stream']] as Array<[string, string]>, body: Buffer.from('raw') },
      { why: 'no content type', headers: [], body: multipart(boundary, [file()]) },
      { why: 'a compressed body', headers: [type, ['Content-Encoding', 'gzip']] as Array<[string, string]>, body: multipart(boundary, [file()]) },
      { why: 'a file over the upload limit', headers: [type], body: multipart(boundary, [file(Buffer.alloc(max + 1, 0x61))]) },
      { why: 'a Content-Length over the upload limit', headers: [type, ['Content-Length', String(max * 4)]] as Array<[string, string]>, body: Buffer.alloc(0), framing: 'none' as const },
      { why: 'part headers flood', headers: [type], body: multipart(boundary, [{ ...file(), extraHeaders: Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`) }]) },
      { why: 'a part header line without a colon', headers: [type], body: multipart(boundary, [{ ...file(), extraHeaders: ['garbage line'] }]) },
    ),
    fc.constantFrom('short' as const, 'long' as const).map((framing) => ({ why: `a Content-Length that lies (${framing})`, headers: [type], body: multipart(boundary, [file()]), framing })),
  );
}
