import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { NotFound, type LocalRuntime } from '../runtime.ts';
import { parseFault } from '../network/sidecar.ts';
import { chaosRoute } from '../../chaos/routes.ts';
import { scalingRoute } from './autoscaling-routes.ts';
import { NODE_DRAIN_TIMEOUT_MS } from '../../../lib/time.ts';
import { IssuerKeyError } from '../../../reference-services/shared/secrets.ts';

/**
 * The daemon's control API, on 127.0.0.1 with a bearer token kept in the state file (mode
 * 600): what the CLI and the ClusterTarget client use to read status and to act.
 *
 *   GET  /status                          everything `status` shows
 *   POST /workloads/{name}/scale          {"replicas": n}
 *   POST /pods/{name}/kill                {"signal": "SIGKILL"}   container restarts in place
 *   POST /pods/{name}/delete              {"gracePeriodSeconds": n}
 *   GET  /pods/{name}/logs
 *   POST /pods/{name}/network             {"link", "flow", "fault"}  a sidecar fault (chaos)
 *   POST /nodes/{name}/drain | /uncordon
 *   POST /zones/{name}/fail  | /restore
 *   GET  /issuer/keys | POST /issuer/rotate | POST /issuer/retire {"kid"}   the token issuer's keys
 *   POST /shutdown                        stops the cluster (202; the daemon exits when done)
 *   GET  /chaos | POST /chaos/apply | POST /chaos/recover   experiments of chaos/ (cluster/chaos/routes.ts)
 *   GET  /scaling/events?since=<ms> | GET /scaling/scaledobjects | POST /scaling/scaledobjects/{name}/pause|resume
 *                                         the autoscaler (cluster/local/control/autoscaling-routes.ts)
 */
export interface ControlServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

class BadRequest extends Error {}

const SIGNALS = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGSTOP', 'SIGCONT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']);
const MAX_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest(`body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (!chunks.length) return {};
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new BadRequest('body must be a JSON object');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
  res.end(text);
}

function nonNegativeInt(value: unknown, what: string, max = 1000): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw new BadRequest(`${what} must be an integer from 0 to ${max}`);
  return value;
}

export async function startControlServer(runtime: LocalRuntime, onShutdown: () => void): Promise<ControlServer> {
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const authorized = (req: IncomingMessage) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };

  const route = async (req: IncomingMessage): Promise<[number, unknown]> => {
    const url = new URL(req.url ?? '/', 'http://control');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const [kind, name, action] = parts;
    if (method === 'GET' && parts.length === 1 && kind === 'status') return [200, runtime.status()];
    if (method === 'POST' && parts.length === 1 && kind === 'shutdown') { onShutdown(); return [202, { stopping: true }]; }
    if (method === 'GET' && kind === 'pods' && name && action === 'logs') return [200, runtime.podLogs(name)];
    if (method === 'GET' && parts.length === 1 && kind === 'nats') {
      const leaders = Object.entries(await runtime.nats?.streamLeaders() ?? {});
      return [200, (runtime.nats?.nodes ?? []).map((n, index) => ({
        index, name: n.name, up: n.supervisor.status.state === 'up', leads: leaders.filter(([, leader]) => leader === n.name).map(([stream]) => stream).sort(),
      }))];
    }
    if (method === 'POST' && kind === 'nats' && name && (action === 'kill' || action === 'restore') && parts.length === 3) {
      if (!runtime.nats) throw new NotFound('no NATS cluster');
      runtime.nats.node(name);
      // kill: SIGKILL and held down (an outage a test makes); restore: started again on its store.
      if (action === 'kill') await runtime.nats.stopNode(name, 0, 'SIGKILL');
      else await runtime.nats.startNode(name);
      return [200, { [action === 'kill' ? 'killed' : 'restored']: name }];
    }
    if (kind === 'issuer' && parts.length === 2) {
      if (method === 'GET' && name === 'keys') return [200, runtime.issuerKeys()];
      if (method === 'POST' && name === 'rotate') return [200, await runtime.rotateIssuerKey()];
      if (method === 'POST' && name === 'retire') {
        const { kid } = await readJson(req);
        if (typeof kid !== 'string' || !kid) throw new BadRequest('kid must be the key id to retire');
        try {
          return [200, await runtime.retireIssuerKey(kid)];
        } catch (err) {
          if (!(err instanceof IssuerKeyError)) throw err;
          if (err.code === 'unknown_kid') throw new NotFound(err.message);
          return [409, { error: err.code, reason: err.message }];
        }
      }
    }
    if (kind === 'chaos') return chaosRoute(runtime.chaos, method, parts.slice(1), () => readJson(req));
    if (kind === 'scaling') return scalingRoute(runtime.autoscaling, method, parts.slice(1), url.searchParams, () => readJson(req));
    if (method !== 'POST' || !name || !action || parts.length !== 3) throw new NotFound(`no route ${method} ${url.pathname}`);
    const body = await readJson(req);
    switch (`${kind}/${action}`) {
      case 'workloads/scale':
        runtime.scale(name, nonNegativeInt(body.replicas, 'replicas', 100));
        return [200, runtime.controller(name).info()];
      case 'pods/kill': {
        const signal = body.signal ?? 'SIGKILL';
        if (typeof signal !== 'string' || !SIGNALS.has(signal)) throw new BadRequest(`signal must be one of ${[...SIGNALS].join(', ')}`);
        const pod = runtime.pod(name);
        if (!pod.child?.running) return [409, { error: 'not_running', reason: `pod ${name} has no running container (restarting or terminating)` }];
        runtime.killPod(name, signal as NodeJS.Signals);
        return [200, pod.info()];
      }
      case 'pods/delete':
        runtime.deletePodByName(name, body.gracePeriodSeconds === undefined ? undefined : nonNegativeInt(body.gracePeriodSeconds, 'gracePeriodSeconds', 3600));
        return [202, { deleting: name }];
      case 'pods/network': {
        const pod = runtime.pod(name);
        const flow = body.flow ?? 'both';
        if (flow !== 'both' && flow !== 'to-pod' && flow !== 'from-pod') throw new BadRequest('flow must be to-pod, from-pod or both');
        try {
          const fault = body.fault === null || body.fault === undefined ? undefined : parseFault(body.fault);
          pod.sidecar.setFault({ link: typeof body.link === 'string' ? body.link : 'all', flow }, fault);
        } catch (err) {
          throw new BadRequest(err instanceof Error ? err.message : String(err));
        }
        await runtime.loadBalancerSettled([name]);
        return [200, { pod: name }];
      }
      case 'pods/probe': {
        if (typeof body.workload !== 'string' || !body.workload) throw new BadRequest('workload must be the name of a workload');
        return [200, await runtime.probeFlow(name, body.workload, nonNegativeInt(body.port, 'port', 65_535))];
      }
      case 'nodes/drain':
        try {
          await runtime.drainNode(name, body.timeoutMs === undefined ? NODE_DRAIN_TIMEOUT_MS : nonNegativeInt(body.timeoutMs, 'timeoutMs', 3_600_000));
        } catch (err) {
          if (err instanceof NotFound || err instanceof BadRequest) throw err;
          return [504, { error: 'drain_incomplete', reason: err instanceof Error ? err.message : String(err) }];
        }
        return [200, { drained: name }];
      case 'nodes/uncordon':
        runtime.uncordonNode(name);
        return [200, { uncordoned: name }];
      case 'zones/fail':
        await runtime.failZone(name);
        return [200, { failed: name }];
      case 'zones/restore':
        await runtime.restoreZone(name);
        return [200, { restored: name }];
      default:
        throw new NotFound(`no route ${method} ${url.pathname}`);
    }
  };

  const server: Server = createServer((req, res) => {
    if (!authorized(req)) { send(res, 401, { error: 'unauthorized', reason: 'bearer token from the state file required' }); return; }
    route(req).then(([status, body]) => send(res, status, body), (err: unknown) => {
      if (err instanceof NotFound) send(res, 404, { error: 'not_found', reason: err.message });
      else if (err instanceof BadRequest) send(res, 400, { error: 'bad_request', reason: err.message });
      else {
        runtime.log('control API error', err);
        send(res, 500, { error: 'internal', reason: err instanceof Error ? err.message : String(err) });
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, port, token,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
