import { isAbsolute, resolve } from 'node:path';
import { REPO_ROOT } from '../../lib/repo.ts';
import { type ChaosExecutor, NotFoundExperiment } from './executor.ts';
import { loadChaosFile, parseChaosYaml } from './parse.ts';
import { validateResource } from './schema.ts';
import { ChaosConflict, UnsupportedOnLocal } from './selector.ts';
import { type ChaosResource, ChaosValidationError } from './types.ts';

/**
 * The daemon's chaos routes (the control API hands over every path under /chaos):
 *
 *   GET  /chaos            every experiment of this run, newest first
 *   POST /chaos/apply      {"resource": {...}} | {"yaml": "...", "source"?: file} | {"file": path}
 *   POST /chaos/recover    {"name"?: "<name>" | "<namespace>/<name>"}  (none: every one in force)
 *
 * A bad resource is 400 with every problem; one the local target cannot run with its
 * meaning is 422; one that selects nothing or is already in force is 409.
 */
export async function chaosRoute(executor: ChaosExecutor, method: string, rest: string[], readBody: () => Promise<Record<string, unknown>>): Promise<[number, unknown]> {
  try {
    if (method === 'GET' && rest.length === 0) return [200, { experiments: executor.list() }];
    if (method === 'POST' && rest.length === 1 && rest[0] === 'apply') {
      const body = await readBody();
      const { resource, source } = resourceOf(body);
      return [201, await executor.apply(resource, source ? { source } : {})];
    }
    if (method === 'POST' && rest.length === 1 && rest[0] === 'recover') {
      const body = await readBody();
      if (body.name !== undefined && typeof body.name !== 'string') return [400, { error: 'bad_request', reason: 'name must be a string' }];
      return [200, { recovered: await executor.recover(body.name as string | undefined) }];
    }
    return [404, { error: 'not_found', reason: `no route ${method} /chaos${rest.length ? `/${rest.join('/')}` : ''}` }];
  } catch (err) {
    if (err instanceof ChaosValidationError) return [400, { error: 'invalid_experiment', reason: err.message, problems: err.problems }];
    if (err instanceof UnsupportedOnLocal) return [422, { error: 'unsupported_on_local_target', reason: err.message }];
    if (err instanceof ChaosConflict) return [409, { error: 'conflict', reason: err.message }];
    if (err instanceof NotFoundExperiment) return [404, { error: 'not_found', reason: err.message }];
    throw err;
  }
}

function resourceOf(body: Record<string, unknown>): { resource: ChaosResource; source?: string } {
  const given = ['resource', 'yaml', 'file'].filter((k) => body[k] !== undefined);
  if (given.length !== 1) throw new ChaosValidationError(['give exactly one of resource (an object), yaml (the file\'s text) or file (a path)'], 'request');
  const source = typeof body.source === 'string' ? body.source : undefined;
  if (body.resource !== undefined) return { resource: validateResource(body.resource, source ?? 'resource'), ...(source ? { source } : {}) };
  if (body.yaml !== undefined) {
    if (typeof body.yaml !== 'string') throw new ChaosValidationError(['yaml must be a string'], 'request');
    return { resource: parseChaosYaml(body.yaml, source ?? 'yaml'), ...(source ? { source } : {}) };
  }
  if (typeof body.file !== 'string') throw new ChaosValidationError(['file must be a string'], 'request');
  const file = isAbsolute(body.file) ? body.file : resolve(REPO_ROOT, body.file);
  return { resource: loadChaosFile(file), source: file };
}
