import { once } from 'node:events';
import { Agent, type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TENANT_HEADER } from '../../../lib/names.ts';
import { endWithError } from '../../../reference-services/shared/http-app.ts';
import { EDGE_BUFSIZE } from './haproxy-config.ts';

/**
 * The activation path (docs/design.md §3), as KEDA's HTTP add-on interceptor and Knative's
 * activator do it: HAProxy's `backup` server, so it sees a request only when the pool has
 * no server up. It holds the request, counts it as demand (which activates the scaler),
 * and forwards it once a pod is ready. The client gets an answer, not a 503; a 503 comes
 * only after the profile's bound, with the reason.
 */
export interface ActivatorBackend {
  /** The workload behind the HAProxy backend (e.g. `percolate-db-small`). */
  workload: string;
  tier: string;
  /** The load balancer's frontend for this backend: where a held request is sent again. */
  frontendUrl: string;
}

export interface ActivatorHooks {
  /** True when the workload has a ready pod that HAProxy routes to. */
  hasRoutablePod(workload: string): boolean;
  /** Resolves true when the workload has a routable pod, false when `timeoutMs` passes first. */
  waitForRoutablePod(workload: string, timeoutMs: number): Promise<boolean>;
  /** The address (host:port) of one routable pod, for a request HAProxy sent back to us. */
  routablePodAddress(workload: string): string | undefined;
  /**
   * Demand for a workload with no pod up: KEDA's activation. The runtime scales 0 → 1 until
   * the local autoscaler (control/autoscaling.ts) takes the hook over with its own decision.
   */
  onDemand(workload: string): void;
}

/** Marks a request the activator has already forwarded once: HAProxy sending it back means no server was up after all. */
export const HOP_HEADER = 'x-percolate-activator-hop';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

export class Activator {
  readonly registry = new Registry();
  private server: Server | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly heldTenants = new Map<string, number>();
  private readonly pending: Gauge;
  private readonly activeTenants: Gauge;
  private readonly tenantActive: Gauge;
  private readonly requests: Counter;
  private readonly holdSeconds: Histogram;
  private closing = false;
  port = 0;

  constructor(private readonly backend: ActivatorBackend, private readonly hooks: ActivatorHooks, private readonly timeoutMs: number) {
    const labels = { workload: backend.workload, tier: backend.tier };
    this.pending = new Gauge({ name: 'percolate_activator_pending_requests', help: 'Requests held while the pool is at zero', labelNames: ['workload', 'tier'], registers: [this.registry] });
    // The scaler's own metric: demand the pods cannot report because none is running.
    this.activeTenants = new Gauge({ name: 'percolate_active_tenants', help: 'Tenants with a request held by the activator', labelNames: ['tier', 'source'], registers: [this.registry] });
    this.tenantActive = new Gauge({ name: 'percolate_tenant_active', help: 'Tenants with a request held by the activator, one series each', labelNames: ['tenant_id', 'tier', 'source'], registers: [this.registry] });
    this.requests = new Counter({ name: 'percolate_activator_requests_total', help: 'Requests seen by the activator by outcome', labelNames: ['workload', 'tier', 'outcome'], registers: [this.registry] });
    this.holdSeconds = new Histogram({
      name: 'percolate_activator_hold_seconds', help: 'Time a request was held before it was forwarded', labelNames: ['workload', 'tier'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30], registers: [this.registry],
    });
    this.pending.set(labels, 0);
    this.activeTenants.set({ tier: backend.tier, source: 'activator' }, 0);
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  /** HAProxy's frontend is known only after HAProxy starts, and HAProxy needs our address first. */
  setFrontendUrl(url: string): void { this.backend.frontendUrl = url; }
  get address(): string { return `127.0.0.1:${this.port}`; }
  get pendingRequests(): number { return [...this.heldTenants.values()].reduce((a, b) => a + b, 0); }

  async listen(): Promise<number> {
    // A hop must not refuse what the pod would take or refuse with its own reason: its
    // header limit is the edge's, above the pod's; what it still cannot parse is answered
    // in the contracts' error shape, as every other hop answers.
    this.server = createServer({ maxHeaderSize: EDGE_BUFSIZE }, (req, res) => void this.handle(req, res));
    this.server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      if (!socket.writable || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const [status, error] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'headers_too_large'] : [400, 'bad_request'];
      endWithError(socket, status, error, `the activator could not parse the request (${err.code ?? 'parse error'})`);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/metrics' && req.headers[HOP_HEADER] === undefined && !req.headers[TENANT_HEADER]) {
      res.setHeader('content-type', this.registry.contentType);
      res.end(await this.registry.metrics());
      return;
    }
    const { workload, tier } = this.backend;
    const labels = { workload, tier };
    const tenant = String(req.headers[TENANT_HEADER] ?? '');
    const started = performance.now();
    this.hold(tenant, +1);
    let outcome = 'forwarded';
    try {
      const bounced = req.headers[HOP_HEADER] !== undefined;
      if (!this.hooks.hasRoutablePod(workload)) {
        this.hooks.onDemand(workload);
        const ready = !this.closing && await this.hooks.waitForRoutablePod(workload, this.timeoutMs);
        if (!ready || this.closing) {
          outcome = 'timeout';
          reply(res, 503, {
            error: 'activation_timeout',
            reason: this.closing ? 'the local cluster is shutting down' : `no pod of ${workload} became ready within ${this.timeoutMs} ms`,
          }, { 'retry-after': '1' });
          return;
        }
      }
      this.holdSeconds.observe(labels, (performance.now() - started) / 1000);
      // Back through the load balancer so the tenant's hash picks the pod; if HAProxy
      // already sent this one back, go straight to a ready pod instead of looping.
      const target = bounced ? `http://${this.hooks.routablePodAddress(workload)}` : this.backend.frontendUrl;
      if (bounced) outcome = 'forwarded_direct';
      await this.forward(req, res, target);
    } catch (err) {
      outcome = 'error';
      if (!res.headersSent) reply(res, 502, { error: 'activator_forward_failed', reason: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    } finally {
      this.hold(tenant, -1);
      this.requests.inc({ ...labels, outcome });
    }
  }

  private hold(tenant: string, delta: number): void {
    const n = (this.heldTenants.get(tenant) ?? 0) + delta;
    if (n > 0) this.heldTenants.set(tenant, n);
    else this.heldTenants.delete(tenant);
    this.pending.set({ workload: this.backend.workload, tier: this.backend.tier }, this.pendingRequests);
    this.activeTenants.set({ tier: this.backend.tier, source: 'activator' }, [...this.heldTenants.keys()].filter(Boolean).length);
    if (tenant) {
      if (n > 0) this.tenantActive.set({ tenant_id: tenant, tier: this.backend.tier, source: 'activator' }, 1);
      else this.tenantActive.remove({ tenant_id: tenant, tier: this.backend.tier, source: 'activator' });
    }
  }

  private forward(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      headers[HOP_HEADER] = '1';
      const upstream = request(new URL(req.url ?? '/', base), { method: req.method, headers, agent: this.agent }, (up) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.on('end', () => resolve());
        up.on('error', reject);
      });
      upstream.on('error', reject);
      req.pipe(upstream);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.agent.destroy();
    if (!this.server) return;
    this.server.closeIdleConnections();
    const closed = once(this.server, 'close');
    this.server.close();
    setTimeout(() => this.server?.closeAllConnections(), 2_000).unref();
    await closed;
  }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
