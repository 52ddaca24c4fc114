import { randomInt } from 'node:crypto';
import fc from 'fast-check';
import { eventually } from '../../lib/poll.ts';
import type { Contract } from '../../reference-services/shared/contract.ts';
import { type FuzzTarget, type HostileRequest, hostileRequest } from './hostile-requests.ts';
import { type NoResponse, type RawResponse, sendRaw } from './raw-http.ts';

/**
 * Seeds and run counts. `npm test` runs a fixed seed and a bounded number of runs so the
 * result is the same on every machine; `FUZZ_RUNS=100000 npm run fuzz` runs as many as
 * asked with a random seed (printed, and given back by any failure so it can be replayed
 * with `FUZZ_SEED=<seed>`).
 */
export const FIXED_SEED = 20_261_130;

export function fuzzSettings(defaultRuns: number): { seed: number; runs: number } {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED)
    : process.env.FUZZ_RANDOM_SEED ? randomInt(2 ** 31 - 1) : FIXED_SEED;
  const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : defaultRuns;
  return { seed, runs };
}

/**
 * How long a service may take to clean up after a request whose client went away. A
 * client that half-closes mid-body is answered at once by the HTTP parser (a 400 for the incomplete
 * message, or a close), before the request handler has seen the abort, so the client can look
 * before the server has removed what the request had stored: after no answer, "nothing
 * left behind" is a bounded wait, not a single look.
 */
export const ABORT_CLEANUP_MS = 5_000;

/** A test's time budget: ten minutes, or more for a long run on demand. */
export const fuzzTimeout = (runs: number) => Math.max(600_000, runs * 100);

/** What one fuzz run produced: the figures of the closing note. */
export class FuzzFigures {
  requests = 0;
  readonly byStatus = new Map<string, number>();
  serverErrors = 0;
  crashes = 0;
  /** Answers let through by the run's `tolerate` (named in the summary, never silently). */
  tolerated = 0;
  /** Generated requests the run's `notHostileHere` left out. */
  skipped = 0;
  constructor(readonly name: string, readonly seed: number) {}

  count(res: RawResponse | NoResponse): void {
    this.requests += 1;
    let code = '';
    if (res.kind === 'response') {
      try { code = String((JSON.parse(res.body.toString('utf8')) as { error?: string }).error ?? ''); } catch { /* judged elsewhere */ }
    }
    const key = res.kind === 'response' ? `${res.status}${code ? ` ${code}` : ''}` : res.kind;
    this.byStatus.set(key, (this.byStatus.get(key) ?? 0) + 1);
    if (res.kind === 'response' && res.status >= 500) this.serverErrors += 1;
  }

  summary(): string {
    const statuses = [...this.byStatus.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}×${n}`).join(', ');
    const tolerated = `${this.tolerated > 0 ? `, ${this.tolerated} tolerated` : ''}${this.skipped > 0 ? `, ${this.skipped} not hostile on this path` : ''}${this.tolerated + this.skipped > 0 ? ' (see the test)' : ''}`;
    return `fuzz ${this.name}: seed ${this.seed}, ${this.requests} hostile requests, ${this.serverErrors} answered 5xx, ${this.crashes} crashes${tolerated}; statuses ${statuses}`;
  }
}

/**
 * The verdict on one answer to a hostile request: a 4xx whose body is the contract's
 * error (JSON, `error` and `reason`), a 405 that says what is allowed. Returns the problems.
 */
export function judge(contract: Contract, req: HostileRequest, res: RawResponse | NoResponse): string[] {
  // A body shorter than its Content-Length is an incomplete message: closing without an
  // answer is one of the two things RFC 9112 §8 lets a server do.
  if (res.kind === 'closed' && req.framing === 'long') return [];
  if (res.kind !== 'response') return [`no answer (${res.kind} after ${res.received} bytes)`];
  const problems: string[] = [];
  if (res.status < 400 || res.status >= 500) problems.push(`status ${res.status}, not a 4xx`);
  if (req.method !== 'HEAD') {
    let body: unknown;
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      problems.push(`body is not JSON: ${JSON.stringify(res.body.toString('utf8').slice(0, 200))}`);
    }
    const validate = contract.schema('Error');
    if (body !== undefined && !validate(body)) problems.push(`body is not the contract's Error: ${JSON.stringify(body).slice(0, 200)}`);
  }
  if (res.status === 405 && !res.headers.allow) problems.push('405 without Allow');
  if (res.status === 405 && res.headers.allow?.split(/,\s*/).includes(req.method)) problems.push(`405 whose Allow names ${req.method}`);
  return problems;
}

export function describeRequest(req: HostileRequest): string {
  const headers = req.headers.map(([n, v]) => `${n}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`).join(' | ');
  const body = req.body ? `${req.body.length} bytes ${JSON.stringify(req.body.subarray(0, 120).toString('latin1'))}` : 'none';
  return `[${req.op}] ${req.why}: ${req.method} ${req.target.slice(0, 200)}${req.target.length > 200 ? `…(${req.target.length})` : ''} | ${headers} | framing ${req.framing ?? 'default'} | body ${body}`;
}

export interface FuzzOptions {
  name: string;
  url: string;
  target: FuzzTarget;
  runs: number;
  seed: number;
  /** Throws when the service is gone (its process exited, or /health does not answer). */
  alive: () => Promise<void>;
  /** Throws when the tenant's data differs from before the run. */
  unchanged: () => Promise<void>;
  /** Runs `unchanged` after requests of these methods only (reads change nothing). */
  checkDataAfter?: (req: HostileRequest) => boolean;
  /**
   * An answer the contract's judge refuses but the test accepts for a stated reason (a
   * component's known limit); each is counted in the summary.
   */
  tolerate?: (res: RawResponse | NoResponse) => boolean;
  /** Requests that are not hostile on this path (the test says why); skipped, and counted. */
  notHostileHere?: (req: HostileRequest) => boolean;
}

/** Runs the property: every generated hostile request is refused, and refused harmlessly. */
export async function fuzzService(opts: FuzzOptions): Promise<FuzzFigures> {
  const figures = new FuzzFigures(opts.name, opts.seed);
  // eslint-disable-next-line no-console
  console.log(`fuzz ${opts.name}: seed ${opts.seed}, ${opts.runs} runs (replay with FUZZ_SEED=${opts.seed})`);
  const surveyed = new Set<string>();
  // Operations that take a body have the most ways to be wrong: they get more of the runs.
  const arbitrary = fc.oneof(...opts.target.ops.map((op) => ({ arbitrary: hostileRequest(opts.target, op), weight: op.body ? 4 : 1 })));
  await fc.assert(
    fc.asyncProperty(arbitrary, async (req) => {
      if (opts.notHostileHere?.(req)) {
        figures.skipped += 1;
        return;
      }
      const res = await sendRaw(opts.url, req);
      figures.count(res);
      if (process.env.FUZZ_TRACE) {
        // Tracing (finding which request did it): every request and its answer, in order.
        // eslint-disable-next-line no-console
        console.log(`TRACE ${describeRequest(req).slice(0, 300)}\n    → ${res.kind === 'response' ? `${res.status} ${res.headers['x-served-by'] ?? '-'} ${res.body.toString('utf8').slice(0, 120)}` : res.kind}`);
      }
      let problems = judge(opts.target.contract, req, res);
      if (problems.length > 0 && opts.tolerate?.(res)) {
        figures.tolerated += 1;
        problems = [];
      }
      try {
        await opts.alive();
      } catch (err) {
        figures.crashes += 1;
        problems.push(`service not alive afterwards: ${(err as Error).message}`);
      }
      if (problems.length === 0 && (opts.checkDataAfter?.(req) ?? true)) {
        if (res.kind === 'response' && req.framing !== 'long') await opts.unchanged();
        else {
          await eventually(`nothing left behind by a request the client abandoned (${req.why})`,
            async () => { await opts.unchanged(); return true; }, (ok) => ok, { timeoutMs: ABORT_CLEANUP_MS });
        }
      }
      if (problems.length > 0 && process.env.FUZZ_SURVEY) {
        // Survey mode (finding classes, not a test): list each failing class once and go on.
        const key = `${req.op} ${req.why.replace(/\d+/g, 'N')}: ${problems[0]}`;
        if (!surveyed.has(key)) {
          surveyed.add(key);
          // eslint-disable-next-line no-console
          console.log(`SURVEY ${key}\n    ${describeRequest(req).slice(0, 400)}\n    → ${res.kind === 'response' ? `${res.status} ${res.body.toString('utf8').slice(0, 200)}` : res.kind}`);
        }
        return;
      }
      if (problems.length > 0) {
        const answer = res.kind === 'response' ? `${res.status} ${res.body.toString('utf8').slice(0, 300)}` : res.kind;
        throw new Error(`${problems.join('; ')}\n  request: ${describeRequest(req)}\n  answer: ${answer}`);
      }
    }),
    { seed: opts.seed, numRuns: opts.runs, endOnFailure: false, markInterruptAsFailure: true },
  );
  // eslint-disable-next-line no-console
  console.log(figures.summary());
  return figures;
}
