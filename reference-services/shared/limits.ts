import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';

/**
 * Every limit a client can run into, in one place. The OpenAPI files document the same
 * numbers (`info.description`, "Limits"); tests/fuzz/limits.test.ts shows each one holds.
 * Bad input is answered here with a 4xx and a reason before any route sees it, so no
 * route ever has to survive a body or URL that breaks these.
 */
export const LIMITS = {
  /** Request line + headers, as Node's parser counts them (`maxHeaderSize`): over it, 431. */
  maxHeaderBytes: 16 * 1024,
  /** Path and query together: over it, 414. */
  maxUrlBytes: 4 * 1024,
  /** Query parameters (key=value pairs): over it, 414. */
  maxQueryParams: 32,
  /** JSON bodies (db-node; `MAX_BODY_BYTES` overrides): over it, 413. */
  maxJsonBodyBytes: 1024 * 1024,
  /** Nesting of arrays and objects in a JSON body: over it, 400 `json_too_deep`. */
  maxJsonDepth: 32,
  /** Characters of any one JSON string (names included): over it, 400 `json_limit`. */
  maxJsonStringLength: 64 * 1024,
  /** Elements of any one JSON array: over it, 400 `json_limit`. */
  maxJsonArrayLength: 1000,
  /** Members of any one JSON object: over it, 400 `json_limit`. */
  maxJsonObjectMembers: 1000,
  /** Uploads (gateway; `MAX_UPLOAD_BYTES` overrides): over it, 413. */
  maxUploadBytes: 10 * 1024 * 1024,
  /** Parts of one multipart upload (the file and a few fields). */
  maxUploadParts: 20,
  /** Bytes of an upload's file name. */
  maxFileNameBytes: 255,
  /** Longest wait for a request's headers, then for its whole body: 408. */
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
} as const;

/** The only JSON a service takes: UTF-8 (RFC 8259 §8.1), not compressed. */
export const JSON_MEDIA_TYPE = 'application/json';

const unsupported = (reason: string, headers: Record<string, string> = {}) => new HttpError(415, 'unsupported_media_type', reason, headers);

/** True when the request says it carries a body (a length above 0, or chunked). */
export function hasBody(ctx: Context): boolean {
  const { headers } = ctx.req;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** 415 unless the body is sent without a content coding (identity only: no decompression bombs). */
export function assertIdentityEncoding(ctx: Pick<Context, 'get'>): void {
  const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    throw unsupported(`content-encoding "${encoding.slice(0, 64)}" is not accepted: send the body uncompressed`, { 'Accept-Encoding': 'identity' });
  }
}

/**
 * Reads and parses a JSON body within the limits: 413 over the size, 415 for another
 * media type, charset or content coding, 400 for bytes that are not UTF-8, text that is
 * not JSON, and JSON beyond the depth, string, array and object limits or with a
 * repeated member name (which parsers resolve differently). No body: `body` stays undefined.
 */
export function jsonBody(opts: { maxBytes?: number } = {}) {
  const maxBytes = opts.maxBytes ?? LIMITS.maxJsonBodyBytes;
  return async (ctx: Context, next: Next) => {
    if (!hasBody(ctx)) {
      await next();
      return;
    }
    assertIdentityEncoding(ctx);
    if (!ctx.is(JSON_MEDIA_TYPE)) throw unsupported(`request body must be ${JSON_MEDIA_TYPE}`);
    const charset = ctx.request.charset.toLowerCase();
    if (charset !== '' && charset !== 'utf-8' && charset !== 'utf8') throw unsupported(`charset "${charset.slice(0, 64)}" is not accepted: JSON is UTF-8`);
    const declared = Number(ctx.get('content-length') || NaN);
    if (declared > maxBytes) throw tooLarge(maxBytes);
    const bytes = await readAll(ctx, maxBytes);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new HttpError(400, 'invalid_encoding', 'request body is not valid UTF-8');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'bad_request', 'request body is not valid JSON');
    }
    const problem = jsonShapeProblem(text);
    if (problem) throw new HttpError(400, problem.code, problem.reason);
    (ctx.request as { body?: unknown }).body = value;
    await next();
  };
}

function tooLarge(maxBytes: number): HttpError {
  // The connection is kept and the rest of the body discarded as it arrives (Node does so
  // once the answer is sent; the request timeout bounds how long). Closing at once instead
  // would reset a connection with body bytes still unread, and a proxy still sending them
  // would lose the 413 and answer 502.
  return new HttpError(413, 'payload_too_large', `request body is larger than ${maxBytes} bytes`);
}

async function readAll(ctx: Context, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, 'client_aborted', 'the request body ended early', {}, { cause: err });
  }
  const declared = ctx.get('content-length');
  if (declared && Number(declared) !== total) throw new HttpError(400, 'bad_request', 'request body is shorter than its Content-Length');
  return Buffer.concat(chunks, total);
}

/**
 * One pass over valid JSON text, with an explicit stack (a recursive walk is what overflows
 * on deep input): depth, string, array and object sizes, repeated member names and numbers
 * that do not fit a double. Returns the first problem, or undefined.
 */
export function jsonShapeProblem(text: string, limits: typeof LIMITS = LIMITS): { code: string; reason: string } | undefined {
  interface Level { object: boolean; names?: Set<string>; count: number; empty: boolean; expectName: boolean }
  const stack: Level[] = [];
  const limit = (reason: string) => ({ code: 'json_limit', reason });
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    const top = stack[stack.length - 1];
    if (top && !top.object && top.empty && c !== ']') { top.empty = false; top.count = 1; }
    if (c === '"') {
      let j = i + 1;
      let escaped = false;
      while (text[j] !== '"') {
        if (text[j] === '\\') { escaped = true; j += 2; } else j += 1;
      }
      const value = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
      if (value.length > limits.maxJsonStringLength) return limit(`a JSON string is longer than ${limits.maxJsonStringLength} characters`);
      if (top?.object && top.expectName) {
        if (top.names!.has(value)) return { code: 'duplicate_key', reason: `JSON object repeats the member "${value.slice(0, 64)}"` };
        top.names!.add(value);
        top.count += 1;
        if (top.count > limits.maxJsonObjectMembers) return limit(`a JSON object has more than ${limits.maxJsonObjectMembers} members`);
        top.expectName = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ object: c === '{', names: c === '{' ? new Set() : undefined, count: 0, empty: true, expectName: c === '{' });
      if (stack.length > limits.maxJsonDepth) return { code: 'json_too_deep', reason: `JSON nests deeper than ${limits.maxJsonDepth} levels` };
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      if (top?.object) top.expectName = true;
      else if (top) {
        top.count += 1;
        if (top.count > limits.maxJsonArrayLength) return limit(`a JSON array has more than ${limits.maxJsonArrayLength} elements`);
      }
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9eE+.-]/.test(text[j]!)) j += 1;
      if (!Number.isFinite(Number(text.slice(i, j)))) return { code: 'number_out_of_range', reason: 'a JSON number does not fit a 64-bit float' };
      i = j - 1;
    }
  }
  return undefined;
}

/**
 * Path and query checks for every request, before routing: 414 for a URL or query beyond
 * the limits, 400 for percent-encoding that does not decode to UTF-8 and for control
 * characters (NUL included) in the path.
 */
export function urlLimits() {
  return async (ctx: Context, next: Next) => {
    const url = ctx.originalUrl;
    if (Buffer.byteLength(url) > LIMITS.maxUrlBytes) throw new HttpError(414, 'uri_too_long', `the URL is longer than ${LIMITS.maxUrlBytes} bytes`);
    let path: string;
    try {
      path = decodeURIComponent(ctx.path);
    } catch {
      throw new HttpError(400, 'invalid_path', 'the path has percent-encoding that does not decode to UTF-8');
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(path)) throw new HttpError(400, 'invalid_path', 'the path contains control characters');
    const query = ctx.querystring;
    if (query) {
      const pairs = query.split('&');
      if (pairs.length > LIMITS.maxQueryParams) throw new HttpError(414, 'uri_too_long', `the query has more than ${LIMITS.maxQueryParams} parameters`);
      for (const pair of pairs) {
        try {
          decodeURIComponent(pair.replaceAll('+', ' '));
        } catch {
          throw new HttpError(400, 'invalid_query', 'the query has percent-encoding that does not decode to UTF-8');
        }
      }
    }
    await next();
  };
}

declare module 'koa' {
  interface Request {
    /** The parsed JSON body, set by `jsonBody()`; undefined when the request had none. */
    body?: unknown;
  }
}
