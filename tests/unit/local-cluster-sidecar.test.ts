import { once } from 'node:events';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar, parseFault } from '../../cluster/local/network/sidecar.ts';

/** An echo server standing in for the pod, and one for a destination the pod talks to. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

async function open(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

/** Writes `text` and resolves with the echoed bytes and how long they took. */
async function roundTrip(s: Socket, text: string, timeoutMs = 2_000): Promise<{ data: string; ms: number }> {
  const start = performance.now();
  let data = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { s.off('data', onData); reject(new Error(`no echo within ${timeoutMs} ms (got "${data}")`)); }, timeoutMs);
    const onData = (d: Buffer) => {
      data += d.toString();
      if (data.length >= text.length) { clearTimeout(timer); s.off('data', onData); resolve({ data, ms: performance.now() - start }); }
    };
    s.on('data', onData);
    s.write(text);
  });
}

/** Resolves with how a socket ended (reset / closed), or 'open' if it is still open after 2 s. */
function outcome(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open after 2 s'), 2_000);
    s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? 'error'); });
    s.once('close', () => { clearTimeout(timer); resolve('closed'); });
  });
}

describe('sidecar proxy', () => {
  let pod: { server: Server; port: number };
  let nats: { server: Server; port: number };
  let sidecar: Sidecar;
  let ports: { inbound: number; outbound: Record<string, number> };
  const sockets: Socket[] = [];
  const client = async (port: number) => { const s = await open(port); sockets.push(s); return s; };

  beforeAll(async () => {
    pod = await echoServer();
    nats = await echoServer();
    sidecar = new Sidecar('pod-0', pod.port);
    ports = await sidecar.start({ nats: { resolve: () => [nats.port] } });
  });
  afterEach(() => { sidecar.clearFaults(); for (const s of sockets.splice(0)) s.destroy(); });
  afterAll(async () => {
    await sidecar.close();
    pod.server.close();
    nats.server.close();
  });

  it('passes bytes through both links unchanged', async () => {
    const payload = 'x'.repeat(200_000);
    expect((await roundTrip(await client(ports.inbound), payload)).data).toBe(payload);
    expect((await roundTrip(await client(ports.outbound.nats!), 'hello')).data).toBe('hello');
  });

  it('refuse: resets existing connections and new ones, on the chosen link only', async () => {
    const existing = await client(ports.inbound);
    await roundTrip(existing, 'before');
    const outboundConn = await client(ports.outbound.nats!);
    const ended = outcome(existing);
    sidecar.setFault({ link: 'inbound' }, { partition: 'refuse' });
    expect(await ended).toBe('ECONNRESET');
    const fresh = connect({ host: '127.0.0.1', port: ports.inbound });
    sockets.push(fresh);
    expect(await outcome(fresh)).toBe('ECONNRESET');
    expect((await roundTrip(outboundConn, 'still flows')).data).toBe('still flows');
    sidecar.clearFaults();
    expect((await roundTrip(await client(ports.inbound), 'after')).data).toBe('after');
  });

  it('blackhole: bytes stall without an error, and flow again when it ends', async () => {
    const s = await client(ports.inbound);
    sidecar.setFault({ link: 'inbound', flow: 'to-pod' }, { partition: 'blackhole' });
    await expect(roundTrip(s, 'held', 300)).rejects.toThrow(/no echo within 300 ms/);
    const released = roundTrip(s, '', 2_000);
    sidecar.clearFaults();
    expect((await released).data).toBe('held');
  });

  it('delay: every round trip takes at least the delay, and only on the faulted link', async () => {
    const s = await client(ports.outbound.nats!);
    sidecar.setFault({ link: 'nats', flow: 'from-pod' }, { delayMs: 150 });
    for (let i = 0; i < 3; i++) expect((await roundTrip(s, `m${i}`)).ms).toBeGreaterThanOrEqual(145);
    expect((await roundTrip(await client(ports.inbound), 'fast')).ms).toBeLessThan(100);
  });

  it('jitter keeps byte order', async () => {
    const s = await client(ports.inbound);
    sidecar.setFault({ link: 'inbound', flow: 'to-pod' }, { delayMs: 20, jitterMs: 20 });
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); });
    const expected = Array.from({ length: 40 }, (_, i) => `<${i}>`).join('');
    for (let i = 0; i < 40; i++) { s.write(`<${i}>`); await new Promise((r) => setImmediate(r)); }
    await expect.poll(() => got, { timeout: 2_000, message: 'all 40 chunks echoed within 2 s' }).toHaveLength(expected.length);
    expect(got).toBe(expected);
  });

  it('bandwidth: 100 kB at 200 kB/s takes about half a second', async () => {
    const s = await client(ports.inbound);
    sidecar.setFault({ link: 'inbound', flow: 'from-pod' }, { bandwidthBytesPerSecond: 200_000 });
    const { ms } = await roundTrip(s, 'b'.repeat(100_000), 5_000);
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(2_000);
  });

  it('loss adds a retransmission delay to lost chunks', async () => {
    const s = await client(ports.inbound);
    sidecar.setFault({ link: 'inbound', flow: 'to-pod' }, { loss: 1, retransmitMs: 120 });
    expect((await roundTrip(s, 'lost once')).ms).toBeGreaterThanOrEqual(115);
  });

  it('rejects an unknown link by name', () => {
    expect(() => sidecar.setFault({ link: 'postgres' }, { delayMs: 1 })).toThrow(/no link "postgres"/);
  });
});

describe('parseFault', () => {
  it('accepts the fields of a network fault', () => {
    expect(parseFault({ delayMs: 100, jitterMs: 10, loss: 0.2, bandwidthBytesPerSecond: 1000, partition: 'blackhole' }))
      .toEqual({ delayMs: 100, jitterMs: 10, loss: 0.2, bandwidthBytesPerSecond: 1000, partition: 'blackhole' });
  });

  it.each([
    [[], /must be an object/],
    [{ delayMs: -1 }, /delayMs must be a non-negative number/],
    [{ delayMs: '5' }, /delayMs must be a non-negative number/],
    [{ loss: 2 }, /loss must be a probability/],
    [{ partition: 'drop' }, /partition must be "refuse" or "blackhole"/],
    [{ bandwidthBytesPerSecond: 0 }, /above 0/],
    [{ latency: 5 }, /unknown fault field\(s\) latency/],
  ])('rejects %j', (input, reason) => {
    expect(() => parseFault(input)).toThrow(reason);
  });
});
