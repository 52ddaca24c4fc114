import { connect, createServer } from 'node:net';

/** Every port this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 for a process that cannot bind port 0 and report what it got
 * (nats-server's cluster routes, HAProxy's frontends, Prometheus). Never the same number
 * twice in this process, so two children started together can't be given one port; what
 * runs on it is still checked by identity before anything is routed there. Our own
 * services bind 0 and report their port instead (see `listen`).
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

