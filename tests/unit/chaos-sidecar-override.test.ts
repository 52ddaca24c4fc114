import { once } from 'node:events';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../../cluster/local/network/sidecar.ts';

/** Resolves with the echo of `text` and its round trip, or rejects after `timeoutMs`. */
function roundTrip(s: Socket, text: string, timeoutMs = 2_000): Promise<number> {
  const start = performance.now();
  let got = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { s.off('data', onData); reject(new Error(`no echo within ${timeoutMs} ms`)); }, timeoutMs);
    const onData = (d: Buffer) => { got += d.toString(); if (got.length >= text.length) { clearTimeout(timer); s.off('data', onData); resolve(performance.now() - start); } };
    s.on('data', onData);
    s.on('error', (err) => { clearTimeout(timer); reject(err); });
    s.write(text);
  });
}

/**
 * A zone outage sets an override on the pod's sidecar; network chaos sets faults under it.
 * Neither may erase the other: chaos on a pod comes back with its zone, and chaos applied
 * during an outage does not make the pod reachable.
 */
describe('sidecar: a zone outage over network chaos', () => {
  let echo: Server;
  let sidecar: Sidecar;
  let inbound = 0;
  const sockets: Socket[] = [];
  const client = async () => {
    const s = connect({ host: '127.0.0.1', port: inbound });
    sockets.push(s);
    s.on('error', () => undefined);
    await once(s, 'connect');
    return s;
  };
  const refused = async () => {
    const s = connect({ host: '127.0.0.1', port: inbound });
    sockets.push(s);
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('still open after 2 s'), 2_000);
      s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(e.code ?? 'error'); });
      s.once('close', () => { clearTimeout(timer); resolve('closed'); });
    });
  };

  beforeAll(async () => {
    echo = createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    sidecar = new Sidecar('pod-0', (echo.address() as { port: number }).port);
    inbound = (await sidecar.start({})).inbound;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await sidecar.close();
    echo.close();
  });

  it('the outage wins while it lasts; the chaos fault is back when it ends', async () => {
    sidecar.setFault({ link: 'inbound', flow: 'from-pod' }, { delayMs: 120 });
    expect(await roundTrip(await client(), 'slow')).toBeGreaterThanOrEqual(115);

    sidecar.setOverride({ partition: 'refuse' });
    expect(await refused()).toBe('ECONNRESET');
    // Chaos applied during the outage does not reopen the pod.
    sidecar.setFault({ link: 'inbound', flow: 'to-pod' }, { delayMs: 1 });
    expect(await refused()).toBe('ECONNRESET');

    sidecar.setOverride(undefined);
    expect(await roundTrip(await client(), 'slow again')).toBeGreaterThanOrEqual(115);
    sidecar.clearFaults();
    expect(await roundTrip(await client(), 'fast')).toBeLessThan(100);
  });
});
