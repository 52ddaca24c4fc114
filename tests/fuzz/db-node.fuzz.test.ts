import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Contract } from '../../reference-services/shared/contract.ts';
import { DbTestCluster, dbContract } from '../helpers/db-cluster.ts';
import { http } from '../../lib/http.ts';
import { fuzzService, fuzzSettings, fuzzTimeout } from './fuzz-run.ts';
import { FUZZ_TENANT as TENANT, dbFuzzTarget, seedTenant, storedRecords } from './targets.ts';

// The db-node's whole contract under hostile input, straight to the process: every
// operation of openapi.yaml, every dimension a client controls. Each request must get a
// 4xx with the contract's error body, the node must stay up, and the tenant's stored
// records (ciphertexts, timestamps and all) must be exactly what they were.
let cluster: DbTestCluster;
let contract: Contract;
let url: string;
let adminToken: string;
/** Start-up on a shared, busy 2-core machine: tsx compiles the service before it listens. */
const STARTUP_MS = 90_000;

beforeAll(async () => {
  contract = dbContract();
  cluster = await DbTestCluster.start('fuzz-db', []);
  // Registered before it is ready, so that stop() also ends a node that never got there.
  await (await cluster.addNode('fuzz-db-0', {}, { waitReady: false })).waitReady(STARTUP_MS);
  url = cluster.node('fuzz-db-0').url;
  adminToken = await cluster.adminToken();
  await seedTenant(await cluster.client(TENANT, 'fuzz-db-0'));
}, STARTUP_MS + 30_000);
afterAll(async () => { await cluster?.stop(); }, STARTUP_MS);

describe('db-node under hostile input', () => {
  const { seed, runs } = fuzzSettings(300);
  it(`refuses every contract-breaking request with a 4xx and a reason, stays up, changes nothing (${runs} runs)`, async () => {
    const target = await dbFuzzTarget(contract, {
      token: await cluster.token(TENANT), otherToken: await cluster.token('tenant-other'), adminToken,
    });
    const before = await storedRecords(url, adminToken);
    const node = cluster.node('fuzz-db-0');
    const figures = await fuzzService({
      name: 'db-node direct', url, target, runs, seed,
      alive: async () => {
        if (!node.process.running) throw new Error(`db-node exited:\n${node.process.tail()}`);
        const health = await http(`${url}/health`);
        if (health.status !== 200) throw new Error(`/health answered ${health.status}`);
      },
      unchanged: async () => { expect(await storedRecords(url, adminToken)).toEqual(before); },
      checkDataAfter: (req) => !['GET', 'HEAD'].includes(req.method),
    });
    expect(figures.serverErrors).toBe(0);
    expect(figures.crashes).toBe(0);
    expect(await storedRecords(url, adminToken)).toEqual(before);
    expect(node.process.output).not.toMatch(/Maximum call stack|"level":50/);
  }, fuzzTimeout(runs));
});
