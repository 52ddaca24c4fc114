import { once } from 'node:events';
import { renameSync, writeFileSync } from 'node:fs';
import { type Server, STATUS_CODES, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import compose from 'koa-compose';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HttpError, errorMiddleware } from './errors.ts';
import { SERVED_BY_HEADER, ZONE_HEADER } from './headers.ts';
import { LIMITS, urlLimits } from './limits.ts';
import type { Logger } from './logger.ts';

/** Who is answering: the pod's name and where the scheduler placed it. */
export interface PodIdentity {
  service: string;
  pod: string;
  zone: string;
  node: string;
}

export function podIdentityFromEnv(service: string, env: NodeJS.ProcessEnv = process.env): PodIdentity {
  return {
    service,
    pod: env.POD_NAME ?? `${service}-local`,
    zone: env.ZONE ?? 'zone-a',
    node: env.NODE_NAME ?? 'node-local',
  };
}

/** The route template that matched (`/api/v1/resources/:id`), as @koa/router records it. */
export function routeOf(ctx: Context): string | undefined {
  return (ctx as Context & { _matchedRoute?: string })._matchedRoute;
}

/** Readiness and the count of requests in flight, which SIGTERM drains. */
export class Lifecycle {
  ready = false;
  stopping = false;
  inFlight = 0;
  private drained: (() => void) | undefined;

  /** Counts a request from its arrival until its response has left (not merely been produced). */
  track() {
    return async (ctx: Context, next: Next) => {
      this.inFlight += 1;
      let done = false;
      const finished = () => {
        if (done) return;
        done = true;
        this.inFlight -= 1;
        if (this.inFlight === 0) this.drained?.();
      };
      ctx.res.once('finish', finished);
      ctx.res.once('close', finished);
      await next();
    };
  }

  /** Resolves when nothing is in flight, or after `timeoutMs`, whichever comes first. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drained = () => { clearTimeout(timer); resolve(true); };
    });
  }
}

export interface HttpAppParts {
  app: Koa;
  registry: Registry;
  lifecycle: Lifecycle;
  /**
   * Installs the service's own middleware. Koa composes its stack when the server starts,
   * and services listen before their dependencies (NATS) are up so that /health answers;
   * the routes mount into a slot that was there from the start.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- router middleware narrows the context type
  mount: (...middleware: Array<Middleware<any, any>>) => void;
}

/**
 * The Koa app every service starts from: identity headers on every response (errors
 * included), the one error middleware, request metrics, in-flight tracking, and the
 * probes. Routes are added by the service.
 */
export function createHttpApp(identity: PodIdentity, logger: Logger): HttpAppParts {
  const app = new Koa();
  app.proxy = true;
  app.silent = true;
  const registry = new Registry();
  registry.setDefaultLabels({ service: identity.service });
  collectDefaultMetrics({ register: registry });
  const lifecycle = new Lifecycle();
  const duration = new Histogram({
    name: 'percolate_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  app.use(async (ctx, next) => {
    ctx.set(SERVED_BY_HEADER, identity.pod);
    ctx.set(ZONE_HEADER, identity.zone);
    const end = duration.startTimer();
    try {
      await next();
    } finally {
      end({ method: ctx.method, route: routeOf(ctx) ?? 'unmatched', status: String(ctx.status) });
    }
  });
  app.use(errorMiddleware(logger));
  app.use(lifecycle.track());
  app.use(urlLimits());
  let routers: RouterLike[] = [];
  // 405 with Allow (and OPTIONS with Allow) for every path the service knows, before any
  // route runs: a method a path does not take is a client error, never a 500 or 501.
  app.use(async (ctx, next) => {
    const allowed = served.get(app)!.allow(ctx.path);
    if (allowed.length > 0 && !allowed.includes(ctx.method)) {
      const allow = [...allowed, 'OPTIONS'].join(', ');
      if (ctx.method === 'OPTIONS') {
        ctx.status = 204;
        ctx.set('Allow', allow);
        return;
      }
      throw new HttpError(405, 'method_not_allowed', `${ctx.method.slice(0, 32)} is not allowed on ${ctx.path.slice(0, 256)}: use ${allowed.join(', ')}`, { Allow: allow });
    }
    await next();
  });
  app.use(async (ctx, next) => {
    switch (ctx.path) {
      case '/health':
        ctx.body = { status: 'ok', pod: identity.pod };
        return;
      case '/ready':
        ctx.status = lifecycle.ready && !lifecycle.stopping ? 200 : 503;
        ctx.body = { ready: ctx.status === 200, pod: identity.pod };
        return;
      case '/metrics':
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
        return;
      default:
        await next();
    }
  });
  let mounted: Middleware | undefined;
  app.use((ctx, next) => (mounted ? mounted(ctx, next) : next()));
  served.set(app, { identity, allow: (path) => (PROBES.has(path) ? ['GET', 'HEAD'] : allowedMethods(routers, path)) });
  return {
    app, registry, lifecycle,
    mount: (...middleware) => {
      mounted = compose(middleware);
      routers = middleware.flatMap((m) => {
        const router = (m as unknown as { router?: RouterLike }).router;
        return router ? [router] : [];
      });
    },
  };
}

const PROBES = new Set(['/health', '/ready', '/metrics']);

/** Who answers and which methods each path takes, for answers made outside Koa. */
const served = new WeakMap<Koa, { identity: PodIdentity; allow: (path: string) => string[] }>();

/** What `@koa/router` exposes of itself on the middleware `routes()` returns. */
interface RouterLike {
  match(path: string, method: string): { path: Array<{ methods: string[] }> };
}

function allowedMethods(routers: RouterLike[], path: string): string[] {
  const methods = new Set<string>();
  for (const router of routers) {
    for (const layer of router.match(path, 'GET').path) for (const m of layer.methods) methods.add(m);
  }
  return [...methods];
}

/**
 * Requests that never reach Koa (Node's parser refuses them: a method it does not know,
 * headers over the limit, a Content-Length beside Transfer-Encoding, bytes that are not
 * HTTP) still get a 4xx with the contract's error body, not Node's bare default.
 */
function answerClientError(app: Koa) {
  return (err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const target = err.rawPacket?.subarray(0, 4096).toString('latin1').split('\r\n', 1)[0]?.split(' ')[1];
    if (err.code === 'HPE_HEADER_OVERFLOW') refuseOnSocket(app, socket, 431, 'headers_too_large', `the request line and headers are larger than ${LIMITS.maxHeaderBytes} bytes`);
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') refuseOnSocket(app, socket, 408, 'request_timeout', 'the request did not arrive in time');
    else if (err.code === 'HPE_INVALID_METHOD') refuseOnSocket(app, socket, 405, 'method_not_allowed', 'the method is not one this service knows', target);
    else refuseOnSocket(app, socket, 400, 'bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`);
  };
}

/** Writes a whole error response on a raw socket and closes it. */
function refuseOnSocket(app: Koa, socket: Duplex, status: number, error: string, reason: string, target?: string): void {
  const identity = served.get(app)?.identity;
  endWithError(socket, status, error, reason, [
    ...(status === 405 ? [`Allow: ${allowOf(app, target)}`] : []),
    ...(identity ? [`${SERVED_BY_HEADER}: ${identity.pod}`, `${ZONE_HEADER}: ${identity.zone}`] : []),
  ]);
}

/**
 * The contracts' JSON error as a whole HTTP/1.1 response on a socket no HTTP server owns
 * any more (a parse error, a refused upgrade or CONNECT), then the close. Every hop in
 * front of a pod answers this way too.
 */
export function endWithError(socket: Duplex, status: number, error: string, reason: string, headers: string[] = []): void {
  // An upgrade's or a CONNECT's socket is handed over with no 'error' listener: a peer that
  // resets it (a proxy giving up on the exchange) would otherwise take the process down.
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  const body = JSON.stringify({ error, reason });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`, 'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...headers,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/** The Allow of the path in a request Koa never saw. */
function allowOf(app: Koa, target: string | undefined): string {
  let path = '/';
  try {
    path = new URL(target ?? '/', 'http://x').pathname;
  } catch { /* not a URL: the root's methods */ }
  const allowed = served.get(app)?.allow(path) ?? [];
  return [...allowed, 'OPTIONS'].join(', ');
}

/**
 * Listens, and with `PORT_FILE` set reports the port it got there (written whole: tmp +
 * rename). A supervisor starts us on port 0 and routes to the reported port only, so no
 * port is ever chosen by one process and bound by another.
 */
export async function listen(
  app: Koa, port: number, host: string, portFile = process.env.PORT_FILE,
  timeouts: { headersMs: number; requestMs: number } = { headersMs: LIMITS.headersTimeoutMs, requestMs: LIMITS.requestTimeoutMs },
): Promise<Server> {
  const server = createServer({
    maxHeaderSize: LIMITS.maxHeaderBytes,
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    // Node looks for requests past these bounds only this often (30 s by default): a slow
    // client is answered 408 within a second of its bound, not up to 30 s after it.
    connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs),
  }, app.callback());
  server.on('clientError', answerClientError(app));
  // Without these listeners Node drops the connection unanswered.
  server.on('connect', (_req, socket: Duplex) => refuseOnSocket(app, socket, 405, 'method_not_allowed', 'CONNECT is not a method this service takes', _req.url));
  server.on('checkExpectation', (req, res) => {
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    res.end(JSON.stringify({ error: 'expectation_failed', reason: `Expect: ${String(req.headers.expect).slice(0, 64)} is not supported; only 100-continue is` }));
  });
  server.on('upgrade', (_req, socket: Duplex) => refuseOnSocket(app, socket, 400, 'upgrade_not_supported', 'this service speaks HTTP/1.1 only: no protocol upgrades'));
  server.listen(port, host);
  await once(server, 'listening');
  // Longer than the proxy's idle timeout, so the proxy closes first and never reuses a dead socket.
  server.keepAliveTimeout = 65_000;
  if (portFile) {
    const bound = (server.address() as AddressInfo).port;
    const tmp = `${portFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ port: bound, pid: process.pid, pod: process.env.POD_NAME ?? '' }));
    renameSync(tmp, portFile);
  }
  return server;
}

export interface ShutdownPlan {
  logger: Logger;
  lifecycle: Lifecycle;
  server: Server;
  /** Time for load balancers to see /ready fail before we stop accepting connections. */
  unreadyGraceMs: number;
  drainTimeoutMs: number;
  /** Work after HTTP has drained: stop consumers, close NATS. */
  close: () => Promise<void>;
}

/** SIGTERM and SIGINT: not ready first, then drain in-flight requests, then exit. */
export function onTermination(plan: ShutdownPlan): void {
  let started = false;
  const shutdown = async (signal: string) => {
    if (started) return;
    started = true;
    const { logger, lifecycle, server } = plan;
    logger.info({ signal, inFlight: lifecycle.inFlight }, 'shutting down: not ready');
    lifecycle.stopping = true;
    await new Promise((r) => setTimeout(r, plan.unreadyGraceMs));
    server.close();
    server.closeIdleConnections();
    const drained = await lifecycle.drain(plan.drainTimeoutMs);
    logger.info({ drained, inFlight: lifecycle.inFlight }, 'http drained');
    server.closeAllConnections();
    try {
      await plan.close();
    } catch (err) {
      logger.error({ err }, 'error while closing');
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
