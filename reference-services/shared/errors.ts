import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

/** An error whose status and reason are meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);

/**
 * The one error middleware, first in every app: client errors keep their status and
 * reason; anything else is logged with its stack and answered 500 without details.
 */
export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      const httpError = toHttpError(err);
      if (httpError.status >= 500) logger.error({ err, path: ctx.path, method: ctx.method }, 'request failed');
      ctx.status = httpError.status;
      ctx.set(httpError.headers);
      ctx.body = { error: httpError.code, reason: httpError.message };
    }
  };
}

/** Maps errors thrown by Koa's own middleware (body parser, router) to their client meaning. */
function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type'
      : status === 405 ? 'method_not_allowed' : status === 404 ? 'not_found' : 'bad_request';
    const reason = e.type === 'entity.parse.failed' ? 'request body is not valid JSON' : (e.message ?? 'bad request');
    return new HttpError(status, code, reason, {}, { cause: err });
  }
  return new HttpError(500, 'internal', 'internal error', {}, { cause: err });
}
