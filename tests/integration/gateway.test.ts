import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintTenantToken, signToken } from '../../reference-services/shared/auth.ts';
import { Contract } from '../../reference-services/shared/contract.ts';
import type { JobState } from '../../reference-services/shared/jobs.ts';
import { JOBS_STREAM, UPLOADS_BUCKET, jobsConsumer } from '../../reference-services/shared/nats.ts';
import { anotherIssuer } from '../helpers/issuer.ts';
import { TIERS, type Tier } from '../../reference-services/shared/tenant-id.ts';
import { type HttpResult, http } from '../../lib/http.ts';
import { expectContract } from '../helpers/http.ts';
import { JobQueue } from '../helpers/job-queue.ts';
import { MultipartBody, fileUpload } from '../helpers/multipart.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { type ServiceProcess, TestServices } from '../helpers/processes.ts';
import { eventually } from '../../lib/poll.ts';

// Two gateways on one real nats-server: one streams uploads into the JetStream object
// store, the other into a directory (the S3 stand-in). Every behaviour runs against both.
const MAX_UPLOAD_BYTES = 1024 * 1024;
/** Bytes of an upload in progress reaching the store, or an abandoned one removed from it. */
const UPLOAD_STORE_WAIT = { timeoutMs: 10_000 };
const OPENAPI = join(REPO_ROOT, 'reference-services/gateway/openapi.yaml');

interface Gateway {
  kind: 'object-store' | 'directory';
  service: ServiceProcess;
  queue: JobQueue;
  uploadDir?: string;
}

let services: TestServices;
let contract: Contract;
const gateways: Gateway[] = [];

const token = (tenantId: string, tier: Tier = 'small') => mintTenantToken(services.secrets, tenantId, tier);

async function upload(gw: Gateway, body: MultipartBody | Buffer | string, headers: Record<string, string>): Promise<HttpResult<any>> {
  const multipart = body instanceof MultipartBody;
  return http(`${gw.service.url}/upload`, {
    method: 'POST',
    headers: { ...(multipart ? { 'content-type': body.contentType } : {}), ...headers },
    body: multipart ? body.toBuffer() : body,
  });
}

/** Sends a body as a chunked stream (no Content-Length), so only the gateway's own counting can stop it. */
async function uploadChunked(gw: Gateway, body: MultipartBody, headers: Record<string, string>): Promise<HttpResult<any>> {
  const bytes = body.toBuffer();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
      controller.close();
    },
  });
  return http(`${gw.service.url}/upload`, {
    method: 'POST', headers: { 'content-type': body.contentType, ...headers }, body: stream, duplex: 'half',
  } as RequestInit);
}

/** Every file below the upload directory, partial ones included. */
async function filesIn(dir: string): Promise<Array<{ path: string; size: number }>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.filter((e) => e.isFile()).map(async (e) => {
    const path = join(e.parentPath, e.name);
    return { path: path.slice(dir.length + 1), size: (await stat(path)).size };
  }));
}

/** Everything an upload could leave behind: objects and chunks, files, job messages, job states. */
async function leftovers(gw: Gateway) {
  return { ...(await gw.queue.snapshot()), files: gw.uploadDir ? await filesIn(gw.uploadDir) : [] };
}

async function readStored(gw: Gateway, objectName: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of gw.queue.store.read(objectName)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function findJob(gw: Gateway, jobId: string) {
  const found = (await gw.queue.jobMessages()).find((m) => m.job.jobId === jobId);
  if (!found) throw new Error(`job ${jobId} is not in the work queue`);
  return found;
}

beforeAll(async () => {
  contract = new Contract(OPENAPI);
  services = await TestServices.start('gateway');
  const env = { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) };
  const uploadDir = join(services.dir, 'uploads');
  const [objectGw, dirGw] = await Promise.all([
    services.startService('gateway', 'gateway-obj', env),
    services.startService('gateway', 'gateway-dir', { ...env, UPLOAD_DIR: uploadDir }),
  ]);
  gateways.push(
    { kind: 'object-store', service: objectGw, queue: await JobQueue.connect(services.nats.url, { tierConsumers: false }) },
    { kind: 'directory', service: dirGw, queue: await JobQueue.connect(services.nats.url, { uploadDir, tierConsumers: false }), uploadDir },
  );
});

afterAll(async () => {
  for (const gw of gateways) await gw.queue.close();
  await services?.stop();
});

it('documents its endpoints in a valid OpenAPI 3.1 document', async () => {
  const validator = new Validator();
  const result = await validator.validate(OPENAPI);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
});

it('creates every tier\'s job consumer at start, so a tier\'s lag is its own before its first worker runs', async () => {
  const { jsm } = gateways[0]!.queue;
  for (const tier of TIERS) {
    const info = await jsm.consumers.info(JOBS_STREAM, jobsConsumer(tier));
    expect(info.config, tier).toMatchObject({ durable_name: `workers-${tier}`, filter_subject: `percolate.jobs.${tier}`, ack_policy: 'explicit' });
  }
});

describe.each(['object-store', 'directory'] as const)('gateway on the %s', (kind) => {
  const gw = () => gateways.find((g) => g.kind === kind)!;

  it('stores the upload, queues a job on the token\'s tier, answers 202 {job_id}, and reports it queued', async () => {
    const content = randomBytes(300 * 1024);
    const res = await upload(gw(), fileUpload('scan.pdf', content), { authorization: `Bearer ${await token('tenant-up', 'large')}` });
    expect(res.status, res.text).toBe(202);
    expectContract(contract, 'POST', '/upload', res);
    const jobId = res.body.job_id as string;
    expect(res.headers.get('location')).toBe(`/jobs/${jobId}`);

    const { subject, job } = await findJob(gw(), jobId);
    expect(subject).toBe('percolate.jobs.large');
    expect(job).toMatchObject({ jobId, tenantId: 'tenant-up', tier: 'large', fileName: 'scan.pdf', size: content.length, objectName: `tenant-up/${jobId}` });
    expect(Date.now() - job.submittedAt).toBeLessThan(60_000);
    const stored = await readStored(gw(), job.objectName);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));

    const status = await http(`${gw().service.url}/jobs/${jobId}`, { headers: { authorization: `Bearer ${await token('tenant-up', 'large')}` } });
    expect(status.status).toBe(200);
    expectContract(contract, 'GET', '/jobs/{id}', status);
    expect(status.body).toMatchObject({ job_id: jobId, state: 'queued', file_name: 'scan.pdf', size: content.length, attempts: 0 });
  });

  it('accepts a file of exactly MAX_UPLOAD_BYTES', async () => {
    const res = await upload(gw(), fileUpload('exact.bin', Buffer.alloc(MAX_UPLOAD_BYTES, 7)), { authorization: `Bearer ${await token('tenant-up')}` });
    expect(res.status, res.text).toBe(202);
    expect((await findJob(gw(), res.body.job_id)).job.size).toBe(MAX_UPLOAD_BYTES);
  });

  it('streams: bytes reach the store while the request is still being sent', async () => {
    const body = fileUpload('stream.bin', Buffer.alloc(0));
    const first = randomBytes(512 * 1024);
    const rest = randomBytes(256 * 1024);
    const before = await gw().queue.snapshot();
    const inStore = async () => {
      if (gw().uploadDir) {
        const partial = (await filesIn(gw().uploadDir!)).find((f) => f.path.endsWith('.partial'));
        return (partial?.size ?? 0) >= 256 * 1024;
      }
      // The object store takes 128 KiB chunks: two of them mean 256 KiB are stored.
      const now = await gw().queue.jsm.streams.info(`OBJ_${UPLOADS_BUCKET}`);
      return now.state.messages - before.uploadStreamMessages >= 2;
    };

    const authorization = `Bearer ${await token('tenant-stream')}`;
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${gw().service.url}/upload`, { method: 'POST', headers: { authorization, 'content-type': body.contentType } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.write(body.head(body.parts[0]!));
      req.write(first);
      void eventually('the first half of the upload in the store before the request ends', inStore, (stored) => stored, UPLOAD_STORE_WAIT).then(
        () => { req.write(rest); req.end(Buffer.concat([Buffer.from('\r\n'), body.tail])); },
        (err) => { req.destroy(); reject(err); },
      );
    });
    const res = await response;
    expect(res.status, res.text).toBe(202);
    const { job } = await findJob(gw(), JSON.parse(res.text).job_id);
    expect((await readStored(gw(), job.objectName)).equals(Buffer.concat([first, rest]))).toBe(true);
  });

  it('a client that disconnects mid-upload leaves nothing behind', async () => {
    const body = fileUpload('abandoned.bin', Buffer.alloc(0));
    const before = await leftovers(gw());
    const authorization = `Bearer ${await token('tenant-abandon')}`;
    const req = httpRequest(`${gw().service.url}/upload`, { method: 'POST', headers: { authorization, 'content-type': body.contentType } });
    const closed = new Promise((resolve) => req.on('close', resolve));
    req.on('error', () => undefined);
    req.write(body.head(body.parts[0]!));
    req.write(randomBytes(512 * 1024));
    await eventually('part of the upload in the store', async () => leftovers(gw()), (now) => JSON.stringify(now) !== JSON.stringify(before), UPLOAD_STORE_WAIT);
    req.destroy();
    await closed;
    await eventually('the partial upload removed', async () => leftovers(gw()), (now) => JSON.stringify(now) === JSON.stringify(before), UPLOAD_STORE_WAIT);
    expect((await http(`${gw().service.url}/health`)).status).toBe(200);
  });

  it('derives the tenant from the token: an injected X-Tenant-ID is ignored, and other tenants get 404', async () => {
    const owner = `Bearer ${await token('tenant-owner')}`;
    const res = await upload(gw(), fileUpload('mine.txt', 'private'), { authorization: owner, 'x-tenant-id': 'tenant-victim' });
    expect(res.status, res.text).toBe(202);
    const jobId = res.body.job_id as string;
    const { job } = await findJob(gw(), jobId);
    expect(job).toMatchObject({ tenantId: 'tenant-owner', objectName: `tenant-owner/${jobId}` });
    expect((await gw().queue.state(jobId))?.tenantId).toBe('tenant-owner');

    const asVictim = await http(`${gw().service.url}/jobs/${jobId}`, { headers: { authorization: `Bearer ${await token('tenant-victim')}` } });
    expect(asVictim.status).toBe(404);
    expectContract(contract, 'GET', '/jobs/{id}', asVictim);
    // Naming the owner in the header changes nothing for the other tenant's token.
    const injected = await http(`${gw().service.url}/jobs/${jobId}`, {
      headers: { authorization: `Bearer ${await token('tenant-victim')}`, 'x-tenant-id': 'tenant-owner' },
    });
    expect(injected.status).toBe(404);
    expect((await http(`${gw().service.url}/jobs/${jobId}`, { headers: { authorization: owner } })).status).toBe(200);
  });

  it.each([
    { state: 'queued', extra: {} },
    { state: 'processing', extra: { attempts: 1 } },
    { state: 'done', extra: { attempts: 1, resultId: 'job-x' }, expected: { result_id: 'job-x' } },
    { state: 'failed', extra: { attempts: 5, error: 'file contains the fail marker' }, expected: { error: 'file contains the fail marker' } },
  ] as const)('reports a job $state', async ({ state, extra, ...rest }) => {
    const jobId = `state-${state}-${kind === 'directory' ? 'd' : 'o'}`;
    const value: JobState = { jobId, tenantId: 'tenant-states', state, fileName: 'a.txt', size: 3, attempts: 0, updatedAt: Date.now(), ...extra };
    await gw().queue.states.put(jobId, JSON.stringify(value));
    const res = await http(`${gw().service.url}/jobs/${jobId}`, { headers: { authorization: `Bearer ${await token('tenant-states')}` } });
    expect(res.status).toBe(200);
    expectContract(contract, 'GET', '/jobs/{id}', res);
    expect(res.body).toMatchObject({ job_id: jobId, state, ...('expected' in rest ? rest.expected : {}) });
  });

  describe('refuses bad input with a 4xx and a JSON reason, unharmed, leaving nothing behind', () => {
    type Case = { name: string; status: number; error: string; operation?: [string, string]; send: (gw: Gateway) => Promise<HttpResult> };
    const auth = async () => ({ authorization: `Bearer ${await token('tenant-bad')}` });
    const expiredToken = () => signToken(services.secrets, { tenant: 'tenant-bad', tier: 'small' }, {
      subject: 'tenant-bad', issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresAt: Math.floor(Date.now() / 1000) - 3600,
    });
    const foreignToken = () => mintTenantToken(anotherIssuer(services.secrets), 'tenant-bad', 'small');
    const oversized = () => fileUpload('big.bin', Buffer.alloc(MAX_UPLOAD_BYTES + 1, 1));
    const cases: Case[] = [
      { name: 'no token', status: 401, error: 'unauthorized', send: (g) => upload(g, fileUpload('a.txt', 'x'), {}) },
      { name: 'a token that is not a JWT', status: 401, error: 'unauthorized', send: (g) => upload(g, fileUpload('a.txt', 'x'), { authorization: 'Bearer not-a-jwt' }) },
      { name: 'a token signed with another key', status: 401, error: 'unauthorized', send: async (g) => upload(g, fileUpload('a.txt', 'x'), { authorization: `Bearer ${await foreignToken()}` }) },
      { name: 'an expired token', status: 401, error: 'unauthorized', send: async (g) => upload(g, fileUpload('a.txt', 'x'), { authorization: `Bearer ${await expiredToken()}` }) },
      { name: 'an expired token on GET /jobs', status: 401, error: 'unauthorized', operation: ['GET', '/jobs/{id}'], send: async (g) => http(`${g.service.url}/jobs/abc`, { headers: { authorization: `Bearer ${await expiredToken()}` } }) },
      { name: 'a body that is not multipart', status: 415, error: 'unsupported_media_type', send: async (g) => upload(g, '{"file":"x"}', { ...(await auth()), 'content-type': 'application/json' }) },
      { name: 'multipart without a boundary', status: 400, error: 'malformed_multipart', send: async (g) => upload(g, 'xx', { ...(await auth()), 'content-type': 'multipart/form-data' }) },
      { name: 'multipart cut off before its end', status: 400, error: 'malformed_multipart', send: async (g) => {
        const body = fileUpload('cut.txt', 'partial content that never ends');
        return upload(g, body.toBuffer().subarray(0, body.toBuffer().length - 30), { ...(await auth()), 'content-type': body.contentType });
      } },
      { name: 'multipart that is garbage', status: 400, error: 'malformed_multipart', send: async (g) => upload(g, 'garbage', { ...(await auth()), 'content-type': 'multipart/form-data; boundary=abc' }) },
      { name: 'no file part (only a text field)', status: 400, error: 'missing_file', send: async (g) => upload(g, new MultipartBody([{ name: 'file', content: 'text' }]), await auth()) },
      { name: 'the file under another field name', status: 400, error: 'unexpected_part', send: async (g) => upload(g, new MultipartBody([{ name: 'document', filename: 'a.txt', content: 'x' }]), await auth()) },
      { name: 'two file parts', status: 400, error: 'too_many_files', send: async (g) => upload(g, new MultipartBody([{ name: 'file', filename: 'a.txt', content: 'x' }, { name: 'file', filename: 'b.txt', content: 'y' }]), await auth()) },
      { name: 'path traversal ../../etc/passwd', status: 400, error: 'invalid_file_name', send: async (g) => upload(g, fileUpload('../../etc/passwd', 'root:x:0:0'), await auth()) },
      { name: 'an absolute path', status: 400, error: 'invalid_file_name', send: async (g) => upload(g, fileUpload('/etc/passwd', 'root:x:0:0'), await auth()) },
      { name: 'backslash traversal ..\\..\\boot.ini', status: 400, error: 'invalid_file_name', send: async (g) => upload(g, fileUpload('..\\..\\boot.ini', 'x'), await auth()) },
      { name: 'the file name ".."', status: 400, error: 'invalid_file_name', send: async (g) => upload(g, fileUpload('..', 'x'), await auth()) },
      { name: 'an oversized body with Content-Length', status: 413, error: 'payload_too_large', send: async (g) => upload(g, oversized(), await auth()) },
      { name: 'an oversized body streamed chunked', status: 413, error: 'payload_too_large', send: async (g) => uploadChunked(g, oversized(), await auth()) },
      { name: 'an unknown route', status: 404, error: 'not_found', operation: ['', ''], send: async (g) => http(`${g.service.url}/nope`, { headers: await auth() }) },
      { name: 'a database read (the gateway is not on that path)', status: 404, error: 'not_found', operation: ['', ''], send: async (g) => http(`${g.service.url}/api/v1/resources`, { headers: { ...(await auth()), 'x-tenant-id': 'tenant-bad' } }) },
      { name: 'DELETE /upload', status: 405, error: 'method_not_allowed', send: async (g) => http(`${g.service.url}/upload`, { method: 'DELETE', headers: await auth() }) },
      { name: 'PUT /jobs/{id}', status: 405, error: 'method_not_allowed', operation: ['GET', '/jobs/{id}'], send: async (g) => http(`${g.service.url}/jobs/abc`, { method: 'PUT', headers: await auth() }) },
      { name: 'an unknown method', status: 405, error: 'method_not_allowed', send: async (g) => http(`${g.service.url}/upload`, { method: 'PROPFIND', headers: await auth() }) },
      { name: 'a job id with traversal', status: 400, error: 'invalid_id', operation: ['GET', '/jobs/{id}'], send: async (g) => http(`${g.service.url}/jobs/..%2F..%2Fetc%2Fpasswd`, { headers: await auth() }) },
      { name: 'an unknown job id', status: 404, error: 'not_found', operation: ['GET', '/jobs/{id}'], send: async (g) => http(`${g.service.url}/jobs/no-such-job`, { headers: await auth() }) },
    ];

    it.each(cases)('$name → $status $error', async ({ status, error, operation, send }) => {
      const before = await leftovers(gw());
      const res = await send(gw());
      expect(res.status, res.text).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ error, reason: expect.any(String) });
      const [method, template] = operation ?? ['POST', '/upload'];
      if (method) expectContract(contract, method, template, res);
      else expect(contract.schema('Error')(res.body)).toBe(true);

      expect(gw().service.process.running).toBe(true);
      expect((await http(`${gw().service.url}/health`)).status).toBe(200);
      expect(await leftovers(gw())).toEqual(before);
    });

    it('counts refused uploads in its metrics', async () => {
      const text = (await http(`${gw().service.url}/metrics`)).text;
      expect(text).toMatch(/percolate_uploads_total\{result="too_large"[^}]*\} [1-9]/);
      expect(text).toMatch(/percolate_uploads_total\{result="rejected"[^}]*\} [1-9]/);
      expect(text).toMatch(/percolate_uploads_total\{result="accepted"[^}]*\} [1-9]/);
      expect(text).toMatch(/percolate_upload_bytes_total\{[^}]*\} [1-9]/);
    });
  });
});
