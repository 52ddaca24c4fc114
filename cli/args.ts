/**
 * The argument validators of every command. Commander calls them while parsing (a throw
 * becomes a usage error: the reason, the usage line, exit 2); a body may call them too,
 * with the same result (cli/command.ts).
 */
import { InvalidArgumentError } from 'commander';
import { TENANT_ID_PATTERN } from '../reference-services/shared/tenant-id.ts';

/** A number in [min, max] (or (min, max] with `exclusiveMin`), an integer with `integer`. */
export function number(what: string, min: number, max: number, { integer = false, exclusiveMin = false } = {}) {
  return (raw: string): number => {
    const n = Number(raw);
    const low = exclusiveMin ? n > min : n >= min;
    if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || !low || n > max) {
      throw new InvalidArgumentError(`${what} must be ${integer ? 'an integer' : 'a number'} ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and at most' : 'to'} ${max}`);
    }
    return n;
  };
}

/** An integer in [min, max]: counts, replicas, milliseconds. */
export const count = (what: string, min: number, max: number) => number(what, min, max, { integer: true });

/** A positive number of seconds, at most `max`. */
export const seconds = (what: string, max: number) => number(`${what} (seconds)`, 0, max, { exclusiveMin: true });

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** `250ms`, `30s`, `5m`, `1.5h` → milliseconds; undefined when `raw` is not a duration. */
export function durationMs(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** A point in time: a duration back from now (`30s`, `5m`, `1h`) or ms since the epoch → ms since the epoch. */
export function since(what: string) {
  return (raw: string): number => {
    const back = durationMs(raw);
    if (back !== undefined) return Date.now() - back;
    const at = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(at) || at < 0) throw new InvalidArgumentError(`${what} takes a duration (30s, 5m, 1h) or a time in ms since the epoch`);
    return at;
  };
}

/** A tenant id (lower-case letters, digits, dashes: TENANT_ID_PATTERN). */
export function tenantId(raw: string): string {
  if (!TENANT_ID_PATTERN.test(raw)) throw new InvalidArgumentError(`a tenant id must match ${TENANT_ID_PATTERN.source}`);
  return raw;
}
