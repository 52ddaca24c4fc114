import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintTenantToken } from '../../reference-services/shared/auth.ts';
import { Contract } from '../../reference-services/shared/contract.ts';
import { JOBS_STREAM } from '../../reference-services/shared/nats.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { JobQueue } from '../helpers/job-queue.ts';
import { fileUpload } from '../helpers/multipart.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { type ServiceProcess, TestServices } from '../helpers/processes.ts';
import { ABORT_CLEANUP_MS, fuzzService, fuzzSettings, fuzzTimeout } from './fuzz-run.ts';
import { sendRaw } from './raw-http.ts';
import { eventually } from '../../lib/poll.ts';
import { operationsOf } from './hostile-requests.ts';
import { FUZZ_TENANT as TENANT } from './targets.ts';

// The gateway's contract under hostile input, its multipart path above all: truncated
// and flooded bodies, file-name tricks, lying lengths, oversized files. Every request must
// be refused with a 4xx and the contract's error, and leave nothing behind: no stored
// file, no queued job, no job state, the tenant's one real job as it was.
const MAX_UPLOAD_BYTES = 64 * 1024;
let services: TestServices;
let gateway: ServiceProcess;
let queue: JobQueue;
let uploadDir: string;
/** Start-up on a shared, busy 2-core machine: tsx compiles the service before it listens. */
const STARTUP_MS = 90_000;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? '', e.name)).sort();
}

async function leftBehind(jobUrl: string, token: string) {
  const keys: string[] = [];
  for await (const k of await queue.states.keys()) keys.push(k);
  const job = await http(jobUrl, { headers: tenantHeaders({ token }) });
  return {
    files: await filesUnder(uploadDir),
    queued: (await queue.jsm.streams.info(JOBS_STREAM)).state.messages,
    jobStates: keys.sort(),
    job: job.body,
  };
}

beforeAll(async () => {
  services = await TestServices.start('fuzz-gateway');
  uploadDir = join(services.dir, 'uploads');
  gateway = await services.startService('gateway', 'fuzz-gateway', {
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), UPLOAD_DIR: uploadDir,
  }, { waitReady: false });
  await gateway.waitReady(STARTUP_MS);
  queue = await JobQueue.connect(services.nats.url, { uploadDir });
}, STARTUP_MS + 30_000);
afterAll(async () => {
  await queue?.nc.close();
  await services?.stop();
});

describe('gateway under hostile input', () => {
  const { seed, runs } = fuzzSettings(200);
  it(`refuses every contract-breaking request and upload with a 4xx and a reason, stays up, leaves nothing behind (${runs} runs)`, async () => {
    const { secrets } = services;
    const token = await mintTenantToken(secrets, TENANT, 'small');
    const upload = fileUpload('seed.txt', 'the one real upload');
    const accepted = await http(`${gateway.url}/upload`, {
      method: 'POST', headers: tenantHeaders({ token }, { 'content-type': upload.contentType }), body: upload.toBuffer(),
    });
    expect(accepted.status, accepted.text).toBe(202);
    const jobId = accepted.body.job_id as string;
    const jobUrl = `${gateway.url}/jobs/${jobId}`;
    const before = await leftBehind(jobUrl, token);

    const contract = new Contract(join(REPO_ROOT, 'reference-services/gateway/openapi.yaml'));
    const figures = await fuzzService({
      name: 'gateway direct', url: gateway.url, runs, seed,
      target: {
        contract, ops: operationsOf(contract), tenant: TENANT, token, otherTenant: 'tenant-other',
        otherToken: await mintTenantToken(secrets, 'tenant-other', 'small'), tenantHeader: false,
        validParams: { id: jobId }, validBodies: {}, maxUploadBytes: MAX_UPLOAD_BYTES,
      },
      alive: async () => {
        if (!gateway.process.running) throw new Error(`gateway exited:\n${gateway.process.tail()}`);
        const health = await http(`${gateway.url}/health`);
        if (health.status !== 200) throw new Error(`/health answered ${health.status}`);
      },
      unchanged: async () => { expect(await leftBehind(jobUrl, token)).toEqual(before); },
      checkDataAfter: (req) => req.method === 'POST',
    });
    expect(figures.serverErrors).toBe(0);
    expect(figures.crashes).toBe(0);
    expect(await leftBehind(jobUrl, token)).toEqual(before);
    expect(gateway.process.output).not.toMatch(/"level":50/);
  }, fuzzTimeout(runs));

  // The path the fuzzer reaches only when timing allows: the whole file part arrives and is
  // stored, then the client stops short of the Content-Length it promised. The parser
  // answers 400 on the socket while the handler still holds a complete file; the handler
  // must remove it. The client half-closes only once the file is in place, so this path
  // is taken every time.
  it('a stored file whose request then stops short of its Content-Length is removed again', async () => {
    const token = await mintTenantToken(services.secrets, TENANT, 'small');
    const upload = fileUpload('short.txt', 'a complete file part in a message that promises more');
    const filesBefore = await filesUnder(uploadDir);
    const newFiles = async () => (await filesUnder(uploadDir)).filter((f) => !filesBefore.includes(f));
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const res = await sendRaw(gateway.url, {
        method: 'POST', target: '/upload', framing: 'long', body: upload.toBuffer(),
        headers: [['Authorization', `Bearer ${token}`], ['Content-Type', upload.contentType]],
      }, 10_000, async () => {
        await eventually(`the file part stored before the body ends (attempt ${attempt})`,
          newFiles, (files) => files.some((f) => !f.endsWith('.partial')), { timeoutMs: ABORT_CLEANUP_MS });
      });
      expect(res.kind === 'closed' || (res.kind === 'response' && res.status === 400), `attempt ${attempt}: ${res.kind}`).toBe(true);
      await eventually(`no file left by an upload cut short (attempt ${attempt})`,
        newFiles, (files) => files.length === 0, { timeoutMs: ABORT_CLEANUP_MS });
    }
  });
});
