import { Router } from '@koa/router';
import type { Middleware } from 'koa';
import { requireTenantToken } from '../shared/auth.ts';
import { HttpError } from '../shared/errors.ts';
import type { Secrets } from '../shared/secrets.ts';
import { jobRoute } from './jobs-route.ts';
import { type UploadDeps, uploadRoute } from './upload-route.ts';

export interface GatewayDeps extends UploadDeps {
  secrets: Secrets;
}

/** The gateway's two routes. There is deliberately no route to the database: reads never pass here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- router middleware narrows the context type
export function gatewayRoutes(deps: GatewayDeps): Array<Middleware<any, any>> {
  const router = new Router();
  const auth = requireTenantToken(deps.secrets);
  router.post('/upload', auth, uploadRoute(deps));
  router.get('/jobs/:id', auth, jobRoute(deps.jobState));
  const methodNotAllowed = () => new HttpError(405, 'method_not_allowed', 'method not allowed on this path');
  // Unknown methods are a client error here (405), never a 501.
  return [router.routes(), router.allowedMethods({ throw: true, methodNotAllowed, notImplemented: methodNotAllowed })];
}
