import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one line an event, stamped with the pod that wrote them. */
export function createLogger(service: string, pod: string): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service, pod },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
