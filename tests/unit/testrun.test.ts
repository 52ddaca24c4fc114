import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVersions } from '../../cluster/k3s/plan.ts';
import { KubeClusterTarget } from '../../cluster/kube/target.ts';
import { capabilityOf } from '../../cluster/target.ts';
import { SCRIPTS, loadPlan, peakRate } from '../../load/lib/scenarios.ts';
import { type LoadSummary, SUMMARY_LINE_PREFIX, mergeRunnerSummaries, summariesInLog } from '../../load/lib/summary.ts';
import { bundleScript } from '../../load/tools/bundle.ts';
import { type KubeApiRequest, UNREACHABLE_ENDPOINTS, startFakeKubeApi } from '../helpers/fake-kube-api.ts';
import { RATE_PER_RUNNER, parallelismFor, renderTestRun } from '../../load/tools/testrun.ts';

// The k6-operator's own schema for TestRun (cluster/k6-operator/crd/), as its API server would check it.
const crd = JSON.parse(readFileSync(new URL('../../cluster/k6-operator/crd/testrun-schema.json', import.meta.url), 'utf8')) as { schema: object };
const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(crd.schema);
const errorsOf = (object: unknown): string[] => (validate(object) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

describe('k6-operator TestRun of each T5 script', () => {
  for (const script of SCRIPTS) {
    it(`${script}: valid against the operator's CRD schema, its script mounted, its tokens from the Secret, its runners restricted`, async () => {
      const plan = loadPlan(script, 'fast');
      const run = renderTestRun({ plan, bundle: await bundleScript(script), parallelism: 2, tokens: { 'tenant-001': 'a.b.c' }, runTag: 'RUN_1' });
      const [configMap, secret, testRun] = run.objects as Array<Record<string, any>>;
      expect(run.objects.map((o) => o.kind)).toEqual(['ConfigMap', 'Secret', 'TestRun']);
      expect(errorsOf(testRun)).toEqual([]);
      expect(testRun!.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      const { spec } = testRun!;
      expect(spec.parallelism).toBe(2);
      expect(configMap!.data[spec.script.configMap.file]).toContain('handleSummary');
      expect(spec.script.configMap.name).toBe(configMap!.metadata.name);
      const env = Object.fromEntries(spec.runner.env.map((e: { name: string }) => [e.name, e]));
      expect(env.TOKENS.valueFrom.secretKeyRef).toEqual({ name: secret!.metadata.name, key: 'tokens' });
      expect(JSON.parse(secret!.stringData.tokens)).toEqual({ 'tenant-001': 'a.b.c' });
      expect(env.SUMMARY_STDOUT.value).toBe('json');
      const k6 = loadVersions().k6;
      expect(spec.runner.image).toBe(`${k6.image}:${k6.tag}`);
      expect(spec.runner.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(spec.runner.containerSecurityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(spec.runner.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/tmp');
    });
  }

  it('the schema refuses what the operator would refuse (no script, a parallelism that is not a number)', async () => {
    const run = renderTestRun({ plan: loadPlan('baseline', 'fast'), bundle: 'export default function () {}', parallelism: 1, tokens: {}, runTag: 'x' });
    const testRun = run.objects[2] as Record<string, any>;
    expect(errorsOf({ ...testRun, spec: { ...testRun.spec, script: undefined } }).join('\n')).toMatch(/script/);
    expect(errorsOf({ ...testRun, spec: { ...testRun.spec, parallelism: 'two' } }).join('\n')).toMatch(/parallelism/);
  });

  it('runners: enough for the peak rate, at most one per node, at least one', () => {
    const plan = loadPlan('spike', 'fast');
    const needed = Math.ceil(peakRate(plan) / RATE_PER_RUNNER);
    expect(parallelismFor(plan, 100)).toBe(needed);
    expect(parallelismFor(plan, 1)).toBe(1);
    expect(parallelismFor(plan, 0)).toBe(1);
  });
});

const runner = (over: Partial<LoadSummary>): LoadSummary => ({
  script: 'baseline', executor: 'k6', profile: 'fast', baseUrl: 'http://lb', durationSeconds: 60, requests: 1000, errorRate: 0,
  throughputRps: 16, latencyMs: { p50: 10, p95: 100, p99: 200, max: 300 }, tiers: { small: { requests: 1000, errorRate: 0, p95Ms: 100 } },
  phases: {}, thresholds: [{ metric: 'http_req_duration', expression: 'p(95)<500', ok: true }], droppedIterations: 0, ...over,
});

describe('a distributed run\'s summary, from its runners\' logs', () => {
  it('reads each runner\'s JSON line and merges: counts add up, rates weighted, percentiles the largest, a threshold held only where every runner held it', () => {
    const log = (s: LoadSummary) => `baseline (fast profile) by k6 …\n${SUMMARY_LINE_PREFIX}${JSON.stringify(s)}\n`;
    const a = runner({ requests: 3000, errorRate: 0.01, throughputRps: 49.5, latencyMs: { p50: 10, p95: 120, p99: 250, max: 400 } });
    const b = runner({ requests: 1000, errorRate: 0.03, throughputRps: 16, latencyMs: { p50: 12, p95: 90, p99: 300, max: 350 }, thresholds: [{ metric: 'http_req_duration', expression: 'p(95)<500', ok: false }] });
    const merged = mergeRunnerSummaries([log(a), log(b)].flatMap(summariesInLog));
    expect(merged).toMatchObject({ executor: 'k6-operator', requests: 4000, throughputRps: 65.5, latencyMs: { p50: 12, p95: 120, p99: 300, max: 400 } });
    expect(merged.errorRate).toBeCloseTo((3000 * 0.01 + 1000 * 0.03) / 4000, 10);
    expect(merged.tiers.small).toEqual({ requests: 2000, errorRate: 0, p95Ms: 100 });
    expect(merged.thresholds).toEqual([{ metric: 'http_req_duration', expression: 'p(95)<500', ok: false }]);
    expect(() => mergeRunnerSummaries(summariesInLog('no summary here\n'))).toThrow(/no runner summary/);
  });
});

// What the kube target sends the API server for a TestRun, seen by a fake API server that
// knows ConfigMap, Secret and TestRun, moves the TestRun to `finished` after two reads and
// has two runner pods with logs.
describe('kube target: a TestRun applied, waited for, read back and removed', () => {
  let reads = 0;
  let finalStage = 'finished';
  const summary = runner({});
  let api: Awaited<ReturnType<typeof startFakeKubeApi>>;
  let requests: KubeApiRequest[];
  let target: KubeClusterTarget;

  beforeAll(async () => {
    api = await startFakeKubeApi(({ method, url, body }, res) => {
      if (url === '/api/v1') {
        return { kind: 'APIResourceList', groupVersion: 'v1', resources: [
          { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['create', 'delete', 'get', 'patch'] },
          { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'delete', 'get', 'patch'] },
        ] };
      }
      if (url === '/apis/k6.io/v1alpha1') {
        return { kind: 'APIResourceList', groupVersion: 'k6.io/v1alpha1', resources: [{ name: 'testruns', singularName: 'testrun', namespaced: true, kind: 'TestRun', verbs: ['create', 'delete', 'get', 'patch'] }] };
      }
      if (url === '/api/v1/namespaces' && method === 'POST') {
        res.statusCode = 409;
        return { kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'exists' };
      }
      if (method === 'GET' && url.startsWith('/apis/k6.io/v1alpha1/namespaces/percolate-load/testruns/')) {
        reads += 1;
        return { apiVersion: 'k6.io/v1alpha1', kind: 'TestRun', metadata: { name: 'x', namespace: 'percolate-load' }, status: { stage: reads < 3 ? 'started' : finalStage } };
      }
      if (method === 'GET' && url.startsWith('/api/v1/namespaces/percolate-load/pods?')) {
        return { kind: 'PodList', apiVersion: 'v1', items: [1, 2].map((i) => ({ metadata: { name: `runner-${i}`, namespace: 'percolate-load' } })) };
      }
      if (method === 'GET' && /\/pods\/runner-\d\/log/.test(url)) {
        res.setHeader('Content-Type', 'text/plain');
        return `running\n${SUMMARY_LINE_PREFIX}${JSON.stringify(summary)}\n`;
      }
      if (method === 'PATCH') return body;
      if (method === 'DELETE') return { kind: 'Status', status: 'Success' };
      return undefined;
    });
    requests = api.requests;
    target = new KubeClusterTarget(api.kubeConfig, { endpoints: UNREACHABLE_ENDPOINTS });
  });
  afterAll(() => api?.close());

  const rendered = () => renderTestRun({ plan: loadPlan('baseline', 'fast'), bundle: 'export default function () {}', parallelism: 2, tokens: {}, runTag: 'r1' });

  it('applies the ConfigMap, Secret and TestRun in that order, waits for finished, reads every runner\'s log, deletes all three', async () => {
    requests.length = 0; reads = 0; finalStage = 'finished';
    const stages: string[] = [];
    const run = rendered();
    const result = await capabilityOf(target, 'loadOperator')!.runTestRun({ ...run, timeoutMs: 20_000 }, (s) => stages.push(s));
    expect(result.stage).toBe('finished');
    expect(stages).toEqual(['started', 'finished']);
    expect(result.runnerLogs.map((r) => r.pod)).toEqual(['runner-1', 'runner-2']);
    expect(result.runnerLogs.flatMap((r) => summariesInLog(r.log))).toHaveLength(2);
    const applied = requests.filter((r) => r.method === 'PATCH').map((r) => JSON.parse(r.body).kind);
    expect(applied).toEqual(['ConfigMap', 'Secret', 'TestRun']);
    expect(requests.find((r) => r.url.includes('/pods?'))!.url).toContain(encodeURIComponent(`k6_cr=${run.name},runner=true`));
    const deleted = requests.filter((r) => r.method === 'DELETE').map((r) => r.url.split('?')[0]);
    expect(deleted).toEqual([
      `/apis/k6.io/v1alpha1/namespaces/percolate-load/testruns/${run.name}`,
      `/api/v1/namespaces/percolate-load/secrets/${run.name}-tokens`,
      `/api/v1/namespaces/percolate-load/configmaps/${run.name}-script`,
    ]);
  });

  it('a TestRun that never finishes fails at its bound, naming its stage, and is removed all the same', async () => {
    requests.length = 0; reads = 0; finalStage = 'started';
    const run = rendered();
    await expect(capabilityOf(target, 'loadOperator')!.runTestRun({ ...run, timeoutMs: 3_000 })).rejects.toThrow(/TestRun percolate-load\/.* finished.*stage started/s);
    expect(requests.filter((r) => r.method === 'DELETE')).toHaveLength(3);
  });
});
