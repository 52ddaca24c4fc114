import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The stand-in for OpenBao: a root secret from which each tenant's token-signing
 * secret is derived (as OpenBao's transit engine derives per-context keys), the admin
 * secret, and the versioned master keys that wrap tenant data keys (the KMS).
 */
export interface Secrets {
  tokenRoot: Buffer;
  adminSecret: Buffer;
  masterKeys: Map<number, Buffer>;
  currentMasterKeyVersion: number;
}

interface SecretsFile {
  tokenRoot: string;
  adminSecret: string;
  masterKeys: Record<string, string>;
  currentMasterKeyVersion: number;
}

export const DEFAULT_SECRETS_FILE = '.percolate/secrets.json';

/** Reads PERCOLATE_SECRETS_FILE, or the three PERCOLATE_* variables when no file is named. */
export function loadSecrets(env: NodeJS.ProcessEnv = process.env): Secrets {
  const file = env.PERCOLATE_SECRETS_FILE;
  if (file) return parseSecrets(JSON.parse(readFileSync(file, 'utf8')) as SecretsFile, file);
  const { PERCOLATE_TOKEN_ROOT: tokenRoot, PERCOLATE_ADMIN_SECRET: adminSecret, PERCOLATE_MASTER_KEY: masterKey } = env;
  if (!tokenRoot || !adminSecret || !masterKey) {
    throw new Error('no secrets: set PERCOLATE_SECRETS_FILE, or PERCOLATE_TOKEN_ROOT, PERCOLATE_ADMIN_SECRET and PERCOLATE_MASTER_KEY (base64, 32 bytes)');
  }
  return parseSecrets({ tokenRoot, adminSecret, masterKeys: { '1': masterKey }, currentMasterKeyVersion: 1 }, 'environment');
}

function parseSecrets(raw: SecretsFile, source: string): Secrets {
  const masterKeys = new Map<number, Buffer>();
  for (const [version, key] of Object.entries(raw.masterKeys ?? {})) {
    const bytes = Buffer.from(key, 'base64');
    if (bytes.length !== 32) throw new Error(`${source}: master key ${version} must be 32 bytes of base64`);
    masterKeys.set(Number(version), bytes);
  }
  if (!masterKeys.has(raw.currentMasterKeyVersion)) {
    throw new Error(`${source}: currentMasterKeyVersion ${raw.currentMasterKeyVersion} has no key`);
  }
  if (!raw.tokenRoot || !raw.adminSecret) throw new Error(`${source}: tokenRoot and adminSecret are required`);
  return {
    tokenRoot: Buffer.from(raw.tokenRoot, 'base64'),
    adminSecret: Buffer.from(raw.adminSecret, 'base64'),
    masterKeys,
    currentMasterKeyVersion: raw.currentMasterKeyVersion,
  };
}

/** Creates a secrets file with fresh random secrets unless one exists; returns its path. */
export function ensureSecretsFile(file: string = DEFAULT_SECRETS_FILE): string {
  if (existsSync(file)) return file;
  mkdirSync(dirname(file), { recursive: true });
  const content: SecretsFile = {
    tokenRoot: randomBytes(32).toString('base64'),
    adminSecret: randomBytes(32).toString('base64'),
    masterKeys: { '1': randomBytes(32).toString('base64') },
    currentMasterKeyVersion: 1,
  };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(content, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

export function tenantSigningKey(secrets: Secrets, tenantId: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secrets.tokenRoot, 'percolate-tenant-token', tenantId, 32));
}
