/**
 * Prometheus's HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/), the one
 * client of the project: the autoscaler's scalers, the CLI's observer, the suite and the
 * project's own tests all query through it.
 *
 *   const prom = new PrometheusClient(endpoints.prometheusUrl);
 *   await prom.scalar('count(count by (tenant_id) (percolate_tenant_active{tier="small"}))');
 *   await prom.vector('percolate_active_tenants');           // one sample per series
 *   await prom.queryRange('sum(rate(x[1m]))', { start, end, stepSeconds: 5 });
 *
 * Every failure is a PrometheusError naming the query, with the underlying error as `cause`:
 * PrometheusUnavailable (no answer, or not the API's JSON), PrometheusQueryFailed (Prometheus
 * refused or failed the query: bad PromQL, a timeout in its engine), PrometheusUnexpectedResult
 * (an answer of another shape than asked for: several series where one is wanted, an empty
 * result or NaN where a number is).
 */

export class PrometheusError extends Error {
  override name = 'PrometheusError';
  constructor(readonly query: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No answer (connection refused, timeout), or an answer that is not the API's JSON. */
export class PrometheusUnavailable extends PrometheusError {
  override name = 'PrometheusUnavailable';
  /** The HTTP status, when there was an answer. */
  constructor(query: string, message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(query, message, options);
  }
}

/** Prometheus answered `status: "error"`: the query is bad, or failed in its engine. */
export class PrometheusQueryFailed extends PrometheusError {
  override name = 'PrometheusQueryFailed';
  constructor(query: string, message: string, readonly status: number, readonly errorType: string | undefined) {
    super(query, message);
  }
}

/** An answer of another shape than the caller asked for. */
export class PrometheusUnexpectedResult extends PrometheusError {
  override name = 'PrometheusUnexpectedResult';
}

export type Labels = Record<string, string>;

/** One sample of an instant vector. */
export interface Sample { metric: Labels; value: number; /** ms since the epoch */ at: number }

/** One series of a range query. */
export interface RangeSeries { metric: Labels; points: Array<{ at: number; value: number }> }

type RawPair = [number, string];

/** The `data` of an instant query's answer, values still as Prometheus spells them. */
export type InstantData =
  | { resultType: 'vector'; result: Array<{ metric: Labels; value: RawPair }> }
  | { resultType: 'scalar' | 'string'; result: RawPair }
  | { resultType: 'matrix'; result: Array<{ metric: Labels; values: RawPair[] }> };

export interface PrometheusClientOptions {
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

export interface ScalarOptions {
  /**
   * KEDA's `ignoreNullValues` (default true): an empty result, or NaN/±Inf, reads as 0
   * instead of failing. With zero pods nothing exports a metric, and that means zero.
   */
  ignoreNullValues?: boolean;
}

/** An active scrape target, as /api/v1/targets lists it. */
export interface ScrapeTargetInfo { labels: Labels; scrapePool: string; scrapeUrl: string; health: 'up' | 'down' | 'unknown'; lastError: string }

const DEFAULT_TIMEOUT_MS = 10_000;

export class PrometheusClient {
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(url: string, options: PrometheusClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** An instant query, evaluated now (or at `time`, ms since the epoch): the answer's `data`. */
  async query(query: string, options: { time?: number } = {}): Promise<InstantData> {
    const params = new URLSearchParams({ query });
    if (options.time !== undefined) params.set('time', String(options.time / 1000));
    return (await this.get(query, `/api/v1/query?${params}`)) as InstantData;
  }

  /** A range query from `start` to `end` (ms since the epoch), one point every `stepSeconds`. */
  async queryRange(query: string, range: { start: number; end: number; stepSeconds: number }): Promise<RangeSeries[]> {
    const params = new URLSearchParams({ query, start: String(range.start / 1000), end: String(range.end / 1000), step: String(range.stepSeconds) });
    const data = (await this.get(query, `/api/v1/query_range?${params}`)) as { resultType?: string; result?: unknown };
    if (data.resultType !== 'matrix' || !Array.isArray(data.result)) throw unexpected(query, `expected a range vector, got ${String(data.resultType)}`);
    return (data.result as Array<{ metric?: Labels; values?: RawPair[] }>).map((s) => ({
      metric: s.metric ?? {},
      points: (s.values ?? []).map(([t, v]) => ({ at: t * 1000, value: parseValue(query, v) })),
    }));
  }

  /** An instant vector, one sample per series (a scalar answer is one sample without labels). */
  async vector(query: string): Promise<Sample[]> {
    return vectorOf(await this.query(query), query);
  }

  /**
   * An instant query that must come to one number: a scalar, or a vector of at most one
   * series (aggregate in the query, e.g. `sum(...)`), with KEDA's rules for what counts as
   * a value (an empty result and NaN/±Inf read as 0 under `ignoreNullValues`, the default).
   */
  async scalar(query: string, options: ScalarOptions = {}): Promise<number> {
    return scalarOf(await this.query(query), query, options);
  }

  /** The sum of an instant vector's samples (0 when it is empty). */
  async sum(query: string): Promise<number> {
    return (await this.vector(query)).reduce((total, s) => total + s.value, 0);
  }

  /** The active scrape targets (`/api/v1/targets?state=active`). */
  async activeTargets(): Promise<ScrapeTargetInfo[]> {
    const data = (await this.get('targets', '/api/v1/targets?state=active')) as { activeTargets?: ScrapeTargetInfo[] };
    return data.activeTargets ?? [];
  }

  /** GET one API path: the `data` of a successful answer, else a PrometheusError. */
  private async get(query: string, path: string): Promise<unknown> {
    const url = `${this.url}${path}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      text = await res.text();
    } catch (err) {
      throw new PrometheusUnavailable(query, `GET ${url} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    }
    let body: { status?: unknown; data?: unknown; errorType?: unknown; error?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (err) {
      throw new PrometheusUnavailable(query, `GET ${url} answered ${res.status} without the API's JSON: ${text.slice(0, 200)}`, res.status, { cause: err });
    }
    if (body?.status === 'success' && res.ok) return body.data ?? {};
    if (body?.status === 'error') {
      const errorType = typeof body.errorType === 'string' ? body.errorType : undefined;
      const reason = typeof body.error === 'string' ? body.error : JSON.stringify(body).slice(0, 200);
      throw new PrometheusQueryFailed(query, `GET ${url} answered ${res.status}: ${reason}`, res.status, errorType);
    }
    throw new PrometheusUnavailable(query, `GET ${url} answered ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
}

const unexpected = (query: string, message: string) => new PrometheusUnexpectedResult(query, `${message} (query: ${query})`);

/** A value as Prometheus spells it: a decimal, NaN, +Inf or -Inf (which Number() does not read). */
function parseValue(query: string, raw: unknown): number {
  if (typeof raw !== 'string' || raw.trim() === '') throw unexpected(query, `unexpected value ${JSON.stringify(raw)}`);
  const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
  if (Number.isNaN(value) && raw !== 'NaN') throw unexpected(query, `unparsable value ${JSON.stringify(raw)}`);
  return value;
}

/** An instant answer as samples. */
export function vectorOf(data: InstantData, query: string): Sample[] {
  if (data.resultType === 'scalar') return [{ metric: {}, at: data.result[0] * 1000, value: parseValue(query, data.result[1]) }];
  if (data.resultType !== 'vector' || !Array.isArray(data.result)) throw unexpected(query, `expected an instant vector, got ${String(data.resultType)}`);
  return data.result.map((s) => {
    if (!Array.isArray(s.value) || s.value.length < 2) throw unexpected(query, 'a sample has no value');
    return { metric: s.metric ?? {}, at: s.value[0] * 1000, value: parseValue(query, s.value[1]) };
  });
}

/**
 * KEDA's reading of an instant answer (pkg/scalers/prometheus_scaler.go): a scalar, or a
 * vector of one series or none; more is an error.
 */
export function scalarOf(data: InstantData, query: string, options: ScalarOptions = {}): number {
  const ignoreNullValues = options.ignoreNullValues ?? true;
  const fail = (message: string): never => { throw unexpected(query, message); };
  if (data.resultType !== 'scalar' && data.resultType !== 'vector') fail(`expected an instant vector or a scalar, got ${String(data.resultType)}`);
  if (data.resultType === 'vector' && !Array.isArray(data.result)) fail('the result is not a list');
  const samples = data.resultType === 'vector' ? data.result : [{ value: data.result }];
  if (samples.length === 0) return ignoreNullValues ? 0 : fail('the result is empty, the target may be lost');
  if (samples.length > 1) fail(`returned ${samples.length} series; the query must aggregate to one (e.g. sum(...))`);
  const pair: unknown = samples[0]!.value;
  if (!Array.isArray(pair) || pair.length === 0) return ignoreNullValues ? 0 : fail('the value list is empty');
  if (pair.length < 2) fail('did not return enough values');
  const value = parseValue(query, pair[1]);
  if (!Number.isFinite(value)) return ignoreNullValues ? 0 : fail(`the query returned ${String(pair[1])}`);
  return value;
}
