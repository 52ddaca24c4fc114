import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClusterBuilder } from '../../cluster/local/target/builder.ts';
import type { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import { Contract } from '../../reference-services/shared/contract.ts';
import { LIMITS } from '../../reference-services/shared/limits.ts';
import { dbContract } from '../helpers/db-cluster.ts';
import { TenantClient, http, tenantHeaders } from '../../lib/http.ts';
import { fileUpload } from '../helpers/multipart.ts';
import { DB_SMALL, GATEWAY, SERVED_BY_HEADER } from '../../lib/names.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { fuzzService, fuzzSettings, fuzzTimeout } from './fuzz-run.ts';
import { type HostileRequest, operationsOf } from './hostile-requests.ts';
import type { NoResponse, RawResponse } from './raw-http.ts';
import { FUZZ_TENANT as TENANT, dbFuzzTarget, seedTenant, storedRecords } from './targets.ts';

// The same hostile requests through the local cluster's HAProxy, the way clients reach the
// services: whatever the load balancer refuses itself (a URL, headers or a declared body
// beyond the limits, bytes it cannot parse) must also be a 4xx with the contracts' error
// body, and what it passes on must be refused by the pod as it is directly. No pod may
// restart (a crash), and the tenant's data must stay as it was.
let cluster: LocalClusterTarget;

/** A pod that crashed restarts in place: the sum of restarts counts crashes. */
async function restarts(): Promise<number> {
  return (await cluster.listPods()).reduce((n, p) => n + p.restarts, 0);
}

beforeAll(async () => {
  cluster = await new LocalClusterBuilder().withProfile('fast').withReplicas(DB_SMALL, 1).withWorkers(0).withReplicas(GATEWAY, 1).start();
}, 180_000);
afterAll(async () => { await cluster?.close(); }, 60_000);

/**
 * HAProxy 2.6 answers a request it cannot parse at all (a header name with a space, a
 * Content-Length that is not a number) from its H1 layer with a built-in HTML 400: neither
 * `errorfile` nor `http-error` reaches that layer before 3.2 (haproxy/haproxy#3032). Such
 * an answer is still a 4xx from the edge with nothing passed on, so it is tolerated, and
 * only in exactly that form: status 400, HAProxy's own page, no pod named in
 * `x-served-by`. Every other answer must be the contract's JSON error.
 */
function isHaproxyParseError400(res: RawResponse | NoResponse): boolean {
  return res.kind === 'response' && res.status === 400 && res.headers[SERVED_BY_HEADER] === undefined
    && /^text\/html/.test(res.headers['content-type'] ?? '')
    && res.body.toString('latin1').startsWith('<html><body><h1>400 Bad request</h1>');
}

/**
 * An Upgrade on a request HAProxy will not upgrade (h2c, or any upgrade of a request that is
 * not a GET) is dropped by HAProxy, which serves the request as HTTP/1.1: RFC 9110 §7.8
 * lets any hop do so, and the request is then the valid one it was built from. The pods'
 * own refusal of upgrades is fuzzed directly (db-node.fuzz, gateway.fuzz).
 */
const servedAsHttp11 = (req: HostileRequest) => req.why === 'a request to switch protocols';

describe('hostile input through the load balancer', () => {
  const { seed, runs } = fuzzSettings(120);

  it(`db-node behind HAProxy: a 4xx with the contract's error for every hostile request, no crash, nothing changed (${runs} runs)`, async () => {
    const lb = cluster.getLoadBalancerUrl();
    const token = await cluster.mintToken(TENANT);
    const adminToken = await cluster.mintAdminToken();
    await seedTenant(new TenantClient(lb, TENANT, token));
    const before = await storedRecords(lb, adminToken);
    const restartsBefore = await restarts();
    const contract = dbContract();
    const figures = await fuzzService({
      name: 'db-node through the load balancer', url: lb, runs, seed,
      target: await dbFuzzTarget(contract, { token, otherToken: await cluster.mintToken('tenant-other'), adminToken }),
      alive: async () => {
        // As a client: the edge wants a token on every path.
        const health = await http(`${lb}/health`, { headers: tenantHeaders({ token, tenant: TENANT }) });
        if (health.status !== 200) throw new Error(`/health through the load balancer answered ${health.status}`);
      },
      unchanged: async () => { expect(await storedRecords(lb, adminToken)).toEqual(before); },
      checkDataAfter: (req) => !['GET', 'HEAD'].includes(req.method),
      tolerate: isHaproxyParseError400,
      notHostileHere: servedAsHttp11,
    });
    figures.crashes += (await restarts()) - restartsBefore;
    expect(figures.serverErrors).toBe(0);
    expect(figures.crashes).toBe(0);
    expect(await storedRecords(lb, adminToken)).toEqual(before);
  }, fuzzTimeout(runs));

  it(`gateway behind HAProxy: every hostile upload and request refused, no crash, the real job untouched (${Math.ceil(runs * 0.6)} runs)`, async () => {
    const gw = cluster.getGatewayUrl();
    const token = await cluster.mintToken(TENANT);
    const upload = fileUpload('seed.txt', 'the one real upload');
    const accepted = await http(`${gw}/upload`, { method: 'POST', headers: tenantHeaders({ token }, { 'content-type': upload.contentType }), body: upload.toBuffer() });
    expect(accepted.status, accepted.text).toBe(202);
    const jobUrl = `${gw}/jobs/${accepted.body.job_id as string}`;
    const job = async () => (await http(jobUrl, { headers: tenantHeaders({ token }) })).body;
    const before = await job();
    const restartsBefore = await restarts();
    const contract = new Contract(join(REPO_ROOT, 'reference-services/gateway/openapi.yaml'));
    const figures = await fuzzService({
      name: 'gateway through the load balancer', url: gw, runs: Math.ceil(runs * 0.6), seed,
      target: {
        contract, ops: operationsOf(contract), tenant: TENANT, token, otherTenant: 'tenant-other',
        otherToken: await cluster.mintToken('tenant-other'), tenantHeader: false,
        validParams: { id: accepted.body.job_id as string }, validBodies: {}, maxUploadBytes: LIMITS.maxUploadBytes,
      },
      alive: async () => {
        const health = await http(`${gw}/health`);
        if (health.status !== 200) throw new Error(`/health through the load balancer answered ${health.status}`);
      },
      unchanged: async () => { expect(await job()).toEqual(before); },
      checkDataAfter: (req) => req.method === 'POST',
      tolerate: isHaproxyParseError400,
      notHostileHere: servedAsHttp11,
    });
    figures.crashes += (await restarts()) - restartsBefore;
    expect(figures.serverErrors).toBe(0);
    expect(figures.crashes).toBe(0);
  }, fuzzTimeout(runs));
});
