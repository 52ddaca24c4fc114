import type { EventFilter } from '../../autoscaler/index.ts';
import type { LocalAutoscaling } from './autoscaling.ts';
import { NotFound } from '../runtime.ts';

/**
 * The daemon's autoscaling routes (the control API hands over every path under /scaling):
 *
 *   GET  /scaling/events?since=<ms>&scaledObject=<name>&scaleOnly=true   decisions, oldest first
 *   GET  /scaling/scaledobjects                                          each with its pause and replicas
 *   POST /scaling/scaledobjects/{name}/pause   {"replicas"?: n}   paused-replicas=n, or paused=true without n
 *   POST /scaling/scaledobjects/{name}/resume                      removes both annotations
 *
 * 503 until the autoscaler runs (it starts once the cluster is ready); 400 with the reason
 * for a bad parameter; 404 for an unknown ScaledObject.
 */
export async function scalingRoute(
  autoscaling: LocalAutoscaling | undefined, method: string, rest: string[], query: URLSearchParams, readBody: () => Promise<Record<string, unknown>>,
): Promise<[number, unknown]> {
  if (!autoscaling) return [503, { error: 'not_ready', reason: 'the autoscaler starts once the cluster is ready' }];
  const [what, name, action] = rest;
  try {
    if (method === 'GET' && rest.length === 1 && what === 'events') return [200, autoscaling.events(eventFilter(query))];
    if (method === 'GET' && rest.length === 1 && what === 'scaledobjects') return [200, await autoscaling.list()];
    if (method === 'POST' && rest.length === 3 && what === 'scaledobjects' && name && action === 'pause') {
      const { replicas } = await readBody();
      if (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 100)) {
        return bad('replicas must be an integer from 0 to 100, or left out to pause at the current count');
      }
      return [200, await autoscaling.pause(name, replicas as number | undefined)];
    }
    if (method === 'POST' && rest.length === 3 && what === 'scaledobjects' && name && action === 'resume') return [200, await autoscaling.resume(name)];
  } catch (err) {
    if (err instanceof BadParameter) return bad(err.message);
    if (err instanceof NotFound) return [404, { error: 'not_found', reason: err.message }];
    throw err;
  }
  return [404, { error: 'not_found', reason: `no route ${method} /scaling/${rest.join('/')}` }];
}

class BadParameter extends Error {}

const bad = (reason: string): [number, unknown] => [400, { error: 'bad_request', reason }];

function eventFilter(query: URLSearchParams): EventFilter {
  const filter: EventFilter = {};
  const since = query.get('since');
  if (since !== null) {
    const at = Number(since);
    if (since.trim() === '' || !Number.isFinite(at) || at < 0) throw new BadParameter('since must be a time in ms since the epoch (a non-negative number)');
    filter.since = at;
  }
  const scaledObject = query.get('scaledObject');
  if (scaledObject !== null) filter.scaledObject = scaledObject;
  const scaleOnly = query.get('scaleOnly');
  if (scaleOnly !== null) {
    if (scaleOnly !== 'true' && scaleOnly !== 'false') throw new BadParameter('scaleOnly must be true or false');
    filter.scaleOnly = scaleOnly === 'true';
  }
  return filter;
}
