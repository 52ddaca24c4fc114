import { connect } from 'node:net';

/**
 * A request as bytes on the wire. Fetch and node:http refuse to send most of what a
 * hostile client sends (unknown methods, raw bytes in paths, Content-Length lies,
 * duplicated framing headers), so the fuzzer writes the request itself.
 */
export interface RawRequest {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body?: Buffer;
  /**
   * How the body is framed: its true length, chunked, or a Content-Length that lies
   * (`short`: declares fewer bytes than sent; `long`: more, and the client stops writing).
   */
  framing?: 'length' | 'chunked' | 'short' | 'long' | 'none';
}

export interface RawResponse {
  kind: 'response';
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** No response: the peer closed the connection, or said nothing within the deadline. */
export interface NoResponse {
  kind: 'closed' | 'timeout';
  received: number;
}

export function serialise(req: RawRequest, host: string): Buffer {
  const body = req.body ?? Buffer.alloc(0);
  const framing = req.framing ?? (body.length > 0 ? 'length' : 'none');
  const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  let payload = body;
  if (framing === 'length') lines.push(`Content-Length: ${body.length}`);
  else if (framing === 'short') lines.push(`Content-Length: ${Math.floor(body.length / 2)}`);
  else if (framing === 'long') lines.push(`Content-Length: ${body.length + 1 + Math.floor(body.length / 2)}`);
  else if (framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    payload = body.length > 0
      ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
      : Buffer.from('0\r\n\r\n');
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

/**
 * Sends one request on a fresh connection and reads the first response. After a body
 * shorter than its Content-Length the client half-closes, so the server learns that no
 * more is coming (it may then answer, or close: RFC 9112 §8, an incomplete message).
 */
export function sendRaw(
  url: string, req: RawRequest, timeoutMs = 10_000,
  /** For a `long` body: what to wait for between the last byte and the half-close. */
  beforeHalfClose: () => Promise<void> = async () => undefined,
): Promise<RawResponse | NoResponse> {
  const { hostname, port } = new URL(url);
  const bytes = serialise(req, `${hostname}:${port}`);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (result: RawResponse | NoResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', received }), timeoutMs);
    socket.on('error', () => finish(parse(Buffer.concat(chunks), true, req.method === 'HEAD') ?? { kind: 'closed', received }));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      const parsed = parse(Buffer.concat(chunks), false, req.method === 'HEAD');
      if (parsed) finish(parsed);
    });
    socket.on('end', () => finish(parse(Buffer.concat(chunks), true, req.method === 'HEAD') ?? { kind: 'closed', received }));
    socket.write(bytes, () => {
      if (req.framing !== 'long') return;
      beforeHalfClose().then(() => socket.end(), (err: unknown) => { done = true; clearTimeout(timer); socket.destroy(); reject(err); });
    });
  });
}

/** The first complete response in `data`, or undefined while more is needed. */
function parse(data: Buffer, ended = false, head = false): RawResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...headerLines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value;
    }
  }
  const rest = data.subarray(headEnd + 4);
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return { kind: 'response', status, headers, body: Buffer.alloc(0) };
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? { kind: 'response', status, headers, body: rest.subarray(0, length) } : undefined;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) return undefined;
      if (size === 0) return { kind: 'response', status, headers, body: Buffer.concat(body) };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  return ended ? { kind: 'response', status, headers, body: rest } : undefined;
}
