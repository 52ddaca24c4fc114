import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintTenantToken } from '../../reference-services/shared/auth.ts';
import { http, tenantHeaders } from '../../lib/http.ts';
import { eventually } from '../../lib/poll.ts';
import { fileUpload } from '../helpers/multipart.ts';
import { type ServiceProcess, TestServices } from '../helpers/processes.ts';

// A job's state is kept for JOB_STATE_TTL_SECONDS after its last change, then JetStream
// drops it: the bucket does not grow with every job ever submitted. Its own nats-server,
// so the gateway here is the one that makes the bucket, with a TTL short enough to watch.
const TTL_SECONDS = 2;
/** JetStream expires by max_age on its own timer; the TTL plus a margin for a busy machine. */
const EXPIRY_BOUND_MS = TTL_SECONDS * 1000 + 10_000;
const STARTUP_MS = 90_000;

let services: TestServices;
let gateway: ServiceProcess;

beforeAll(async () => {
  services = await TestServices.start('job-state-ttl');
  gateway = await services.startService('gateway', 'gw-ttl', {
    UPLOAD_DIR: join(services.dir, 'uploads'), JOB_STATE_TTL_SECONDS: String(TTL_SECONDS),
  }, { waitReady: false });
  await gateway.waitReady(STARTUP_MS);
}, STARTUP_MS + 30_000);
afterAll(async () => { await services?.stop(); });

it(`a job's state expires ${TTL_SECONDS} s after its last change (JOB_STATE_TTL_SECONDS)`, async () => {
  const token = await mintTenantToken(services.secrets, 'tenant-ttl', 'small');
  const upload = fileUpload('ttl.txt', 'kept for a while');
  const accepted = await http(`${gateway.url}/upload`, {
    method: 'POST', headers: tenantHeaders({ token }, { 'content-type': upload.contentType }), body: upload.toBuffer(),
  });
  expect(accepted.status, accepted.text).toBe(202);
  const jobUrl = `${gateway.url}/jobs/${accepted.body.job_id as string}`;
  const submitted = Date.now();
  expect((await http(jobUrl, { headers: tenantHeaders({ token }) })).body).toMatchObject({ state: 'queued' });
  const gone = await eventually(`the job's state gone after its TTL (${TTL_SECONDS} s)`,
    async () => (await http(jobUrl, { headers: tenantHeaders({ token }) })).status, (status) => status === 404, { timeoutMs: EXPIRY_BOUND_MS, intervalMs: 250 });
  expect(gone).toBe(404);
  // Not before its time: expiry is by age, so it cannot come much earlier than the TTL.
  expect(Date.now() - submitted).toBeGreaterThanOrEqual(TTL_SECONDS * 1000 - 500);
});

it('a gateway configured with another TTL binds the bucket as it is and says so', async () => {
  const other = await services.startService('gateway', 'gw-ttl-other', {
    UPLOAD_DIR: join(services.dir, 'uploads'), JOB_STATE_TTL_SECONDS: '3600',
  }, { waitReady: false });
  await other.waitReady(STARTUP_MS);
  const warning = other.process.jsonLogs().find((l) => String(l.msg).startsWith('job-state bucket exists with another TTL'));
  expect(warning).toMatchObject({ bucketSeconds: TTL_SECONDS, configuredSeconds: 3600 });
}, STARTUP_MS + 30_000);
