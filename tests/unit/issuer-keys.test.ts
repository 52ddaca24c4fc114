import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ISSUER_KEYS_REFRESH_MS, mintTenantToken, verifyTenantToken } from '../../reference-services/shared/auth.ts';
import {
  IssuerKeyError, activateIssuerKey, ensureSecretsFile, loadSecrets, publishIssuerKey, retireIssuerKey,
} from '../../reference-services/shared/secrets.ts';

/**
 * Rotation of the issuer key on a running cluster: the rotation rewrites the secrets file
 * (publish, activate, retire), and a service holding the secrets it loaded at start
 * verifies a newly published key at once, signs with the activated one and refuses a
 * retired one, all without a restart.
 */
describe('issuer key rotation in a secrets file', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'percolate-issuer-'));
    file = ensureSecretsFile(join(dir, 'secrets.json'));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a key that does not sign yet, activates it, and retires the old one', () => {
    const first = loadSecrets({ PERCOLATE_SECRETS_FILE: file }).currentIssuerKid;
    const fresh = publishIssuerKey(file);
    let now = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    expect(now.issuerKeys.map((k) => k.kid)).toEqual([first, fresh.kid]);
    expect(now.currentIssuerKid).toBe(first);
    activateIssuerKey(file, fresh.kid);
    expect(loadSecrets({ PERCOLATE_SECRETS_FILE: file }).currentIssuerKid).toBe(fresh.kid);
    expect(retireIssuerKey(file, first).map((k) => k.kid)).toEqual([fresh.kid]);
    now = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    expect(now.issuerKeys.map((k) => k.kid)).toEqual([fresh.kid]);
  });

  it('refuses to retire the signing key or a key it does not hold, and leaves the file as it was', () => {
    const { currentIssuerKid } = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    const failure = (f: () => unknown) => { try { f(); } catch (err) { return err; } return undefined; };
    const current = failure(() => retireIssuerKey(file, currentIssuerKid));
    expect(current).toBeInstanceOf(IssuerKeyError);
    expect(current).toMatchObject({ code: 'current_kid' });
    expect(failure(() => retireIssuerKey(file, 'es256-000000000000'))).toMatchObject({ code: 'unknown_kid' });
    expect(failure(() => activateIssuerKey(file, 'es256-000000000000'))).toMatchObject({ code: 'unknown_kid' });
    expect(loadSecrets({ PERCOLATE_SECRETS_FILE: file }).issuerKeys.map((k) => k.kid)).toEqual([currentIssuerKid]);
  });

  it('a running verifier accepts a newly published key on its first token, with no wait', async () => {
    const service = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    await verifyTenantToken(service, await mintTenantToken(service, 'tenant-001', 'small'));
    const fresh = publishIssuerKey(file);
    activateIssuerKey(file, fresh.kid);
    const issuer = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    const token = await mintTenantToken(issuer, 'tenant-001', 'small');
    expect(decodeProtectedHeader(token).kid).toBe(fresh.kid);
    await expect(verifyTenantToken(service, token)).resolves.toMatchObject({ tenantId: 'tenant-001' });
  });

  it('a running verifier refuses a retired key within the refresh interval, also for a token it verified before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const service = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    const old = service.currentIssuerKid;
    const oldToken = await mintTenantToken(service, 'tenant-002', 'small');
    await expect(verifyTenantToken(service, oldToken)).resolves.toMatchObject({ tenantId: 'tenant-002' });
    const fresh = publishIssuerKey(file);
    activateIssuerKey(file, fresh.kid);
    retireIssuerKey(file, old);
    vi.setSystemTime(Date.now() + ISSUER_KEYS_REFRESH_MS);
    await expect(verifyTenantToken(service, oldToken)).rejects.toMatchObject({ status: 401 });
  });

  it('a running signer signs with the activated key within the refresh interval', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const worker = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
    await mintTenantToken(worker, 'tenant-003', 'small');
    const fresh = publishIssuerKey(file);
    vi.setSystemTime(Date.now() + ISSUER_KEYS_REFRESH_MS);
    expect(decodeProtectedHeader(await mintTenantToken(worker, 'tenant-003', 'small')).kid).not.toBe(fresh.kid);
    activateIssuerKey(file, fresh.kid);
    vi.setSystemTime(Date.now() + ISSUER_KEYS_REFRESH_MS);
    expect(decodeProtectedHeader(await mintTenantToken(worker, 'tenant-003', 'small')).kid).toBe(fresh.kid);
  });
});
