import { connect, createServer } from 'node:net';

/** Every port this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: only for what can neither bind 0 and
 * report nor take a socket of ours (the route ports of a NATS cluster, which each server
 * must know of the others before any starts; `LocalNatsCluster` starts again on new ports
 * when one was taken meanwhile), and for a port that nothing should answer on. Never the
 * same number twice in this process. Everything else binds 0 and reports (our services,
 * Prometheus, nats-server's client and monitoring ports) or inherits a socket we bound
 * (`listenForChild`, HAProxy).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt += 1) {
    const port = await probeFreePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
    if (attempt > 100) throw new Error('no free port that was not handed out before');
  }
}

/** A listening socket on 127.0.0.1, bound here and handed to a child as a descriptor. */
export interface ListeningSocket {
  port: number;
  /** The descriptor to pass in the child's stdio. */
  fd: number;
  /** Our copy: close it once the child has it (the child's copy keeps the socket listening). */
  close(): void;
}

/**
 * Binds 127.0.0.1:`port` (0: any free port) and listens, for a child that takes a listening
 * descriptor (HAProxy's `bind fd@N`): the port is the child's from the moment it is known,
 * with no gap for another process to take it. Nothing of ours accepts on it: a connection
 * that arrives before our copy is closed is refused, as by a server still starting.
 */
export function listenForChild(port = 0): Promise<ListeningSocket> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('connection', (socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
      ? new Error(`127.0.0.1:${port} is taken by another process`, { cause: err }) : err));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      // Node has no public accessor for a server's descriptor; its TCP handle has had `fd` on
      // Unix since the first releases.
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof address !== 'object' || !address || typeof fd !== 'number' || fd < 0) {
        server.close();
        reject(new Error('a listening socket without a port or descriptor (not a Unix platform?)'));
        return;
      }
      resolve({ port: address.port, fd, close: () => { server.close(); } });
    });
  });
}

/** `listenForChild` for each port in order; when one fails, those already bound are closed. */
export async function listenAllForChild(ports: number[]): Promise<ListeningSocket[]> {
  const sockets: ListeningSocket[] = [];
  try {
    for (const port of ports) sockets.push(await listenForChild(port));
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  return sockets;
}

function probeFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** True when something accepts connections on 127.0.0.1:port. */
export async function isListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (result: boolean) => { socket.destroy(); clearTimeout(timer); resolve(result); };
    const timer = setTimeout(() => done(true), timeoutMs); // accepted-but-silent still counts as taken
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

