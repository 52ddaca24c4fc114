import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { type Histogram, latencyHistogram, recordMs, summarize } from './hdr.ts';
import { atFixedRate } from './schedule.ts';

/**
 * Open-model (constant arrival rate) HTTP load: request i is due at start + i/rate,
 * whether or not earlier requests have completed, and its latency is measured from
 * that due time. A server that stalls therefore pays for every request that should
 * have been sent during the stall (no coordinated omission), as in wrk2.
 *
 * Timers on Node fire with ~1 ms granularity, so each tick sends the requests that
 * became due since the last one; the lateness of the send counts as latency (it is
 * the generator's share and is the same for every server it drives; `sendLagP99Ms`
 * shows it). We don't spin on setImmediate to shave it: on 2 cores shared with the
 * server, a spinning generator would cost the server far more.
 */

export interface RequestSpec {
  path: string;
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
}

export interface OpenModelRun {
  /** Requests per second, held regardless of completions. */
  rate: number;
  durationMs: number;
  /** Upper bound on requests, whatever the duration. */
  maxRequests?: number;
  /** Builds request i (paths, tenants and bodies may vary per request). */
  request: (i: number) => RequestSpec;
  /** Which statuses count as success; default 2xx. */
  ok?: (status: number) => boolean;
}

export interface OpenModelResult {
  /** Successful responses, latency in µs from the due time. */
  histogram: Histogram;
  sent: number;
  ok: number;
  errors: number;
  /** First few error reasons with counts ("status 429", "UND_ERR_HEADERS_TIMEOUT"…). */
  errorReasons: Record<string, number>;
  /** Successful responses per second over the run (first due time to last completion). */
  achievedRps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 of (actual send time − due time): the generator's own lateness. */
  sendLagP99Ms: number;
  /** Measured from when the generator issued the request, i.e. without its own lateness (diagnostic). */
  service: Histogram;
}

export interface GeneratorOptions {
  /** Keep-alive connections the pool may open (opened lazily, as concurrency needs). */
  connections?: number;
  /** A request without a response within this is an error; also bounds the drain. */
  timeoutMs?: number;
}

const isSuccess = (status: number) => status >= 200 && status < 300;

export class OpenModelGenerator {
  private readonly pool: Pool;
  private readonly timeoutMs: number;

  constructor(readonly origin: string, opts: GeneratorOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.pool = new Pool(origin, {
      connections: opts.connections ?? 64,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Runs at the fixed rate; a warm-up is simply a run whose result is dropped. */
  async run(spec: OpenModelRun): Promise<OpenModelResult> {
    const intervalMs = 1000 / spec.rate;
    const total = Math.min(spec.maxRequests ?? Number.POSITIVE_INFINITY, Math.floor((spec.durationMs * spec.rate) / 1000));
    const ok = spec.ok ?? isSuccess;
    const histogram = latencyHistogram();
    const sendLag = latencyHistogram();
    const service = latencyHistogram();
    const errorReasons: Record<string, number> = {};
    let sent = 0;
    let okCount = 0;
    let errors = 0;
    let inFlight = 0;
    let lastDone = 0;
    let onDrained: (() => void) | undefined;
    // Answers that come after the run has given up on them must not touch its result.
    let open = true;

    const fail = (reason: string) => {
      errors++;
      if (Object.keys(errorReasons).length < 8 || reason in errorReasons) errorReasons[reason] = (errorReasons[reason] ?? 0) + 1;
    };

    const fire = (i: number, dueAt: number) => {
      const req = spec.request(i);
      sent++;
      inFlight++;
      const sentAt = performance.now();
      recordMs(sendLag, sentAt - dueAt);
      this.pool.request({ path: req.path, method: req.method ?? 'GET', headers: req.headers, body: req.body })
        .then(async (res) => {
          await res.body.dump();
          const now = performance.now();
          if (!open) return;
          if (ok(res.statusCode)) { okCount++; recordMs(histogram, now - dueAt); recordMs(service, now - sentAt); } else fail(`status ${res.statusCode}`);
          lastDone = now;
        }, (err: unknown) => {
          if (!open) return;
          fail((err as { code?: string }).code ?? String(err));
          lastDone = performance.now();
        })
        .finally(() => { if (--inFlight === 0 && onDrained) onDrained(); });
    };

    const start = performance.now();
    await atFixedRate(spec.rate, total, fire);
    // Bounded: a request that is still queued in the pool (its timeout only starts once
    // it is on a socket) when this runs out is counted as unanswered.
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const guard = setTimeout(resolve, this.timeoutMs + 1_000);
        onDrained = () => { clearTimeout(guard); resolve(); };
      });
    }
    open = false;
    if (inFlight > 0) { errors += inFlight; errorReasons['no answer'] = inFlight; }

    const elapsedS = Math.max(lastDone - start, total * intervalMs, 1) / 1000;
    const s = summarize(histogram);
    return {
      histogram, sent, ok: okCount, errors, errorReasons,
      achievedRps: okCount / elapsedS,
      p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs,
      sendLagP99Ms: summarize(sendLag).p99Ms,
      service,
    };
  }

  async close(): Promise<void> { await this.pool.close(); }
}

/** One result from several runs against the same target (interleaved rounds). */
export function combine(results: OpenModelResult[]): OpenModelResult {
  const histogram = latencyHistogram();
  const service = latencyHistogram();
  const errorReasons: Record<string, number> = {};
  let sent = 0; let ok = 0; let errors = 0; let rpsWeighted = 0; let sendLagP99Ms = 0;
  for (const r of results) {
    histogram.add(r.histogram);
    service.add(r.service);
    sent += r.sent; ok += r.ok; errors += r.errors;
    rpsWeighted += r.achievedRps * r.sent;
    sendLagP99Ms = Math.max(sendLagP99Ms, r.sendLagP99Ms);
    for (const [k, v] of Object.entries(r.errorReasons)) errorReasons[k] = (errorReasons[k] ?? 0) + v;
  }
  const s = summarize(histogram);
  return {
    histogram, sent, ok, errors, errorReasons,
    achievedRps: sent ? rpsWeighted / sent : 0,
    p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs, sendLagP99Ms, service,
  };
}
