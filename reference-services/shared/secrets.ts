import { type JsonWebKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A P-256 key pair of the token issuer, as JWKs; `kid` names it in tokens and in the JWKS. */
export interface IssuerKey {
  kid: string;
  /** Absent where a process only verifies (the public JWKS is enough). */
  privateJwk?: JsonWebKey & { kid: string };
  publicJwk: JsonWebKey & { kid: string; alg: 'ES256'; use: 'sig' };
}

/**
 * The stand-in for OpenBao: the token issuer's ES256 key pairs (every key a verifier must
 * still accept, the newest signs), the versioned master keys that wrap tenant data keys
 * (the KMS), and two legacy secrets kept so that older secrets files still load.
 */
export interface Secrets {
  tokenRoot: Buffer;
  adminSecret: Buffer;
  masterKeys: Map<number, Buffer>;
  currentMasterKeyVersion: number;
  /** Oldest first; the one named by `currentIssuerKid` signs, all of them verify (rotation). */
  issuerKeys: IssuerKey[];
  currentIssuerKid: string;
}

interface SecretsFile {
  tokenRoot: string;
  adminSecret: string;
  masterKeys: Record<string, string>;
  currentMasterKeyVersion: number;
  issuerKeys?: IssuerKey[];
  currentIssuerKid?: string;
}

export const DEFAULT_SECRETS_FILE = '.percolate/secrets.json';

/** Reads PERCOLATE_SECRETS_FILE, or the three PERCOLATE_* variables when no file is named. */
export function loadSecrets(env: NodeJS.ProcessEnv = process.env): Secrets {
  const file = env.PERCOLATE_SECRETS_FILE;
  if (file) return parseSecrets(JSON.parse(readFileSync(file, 'utf8')) as SecretsFile, file);
  const { PERCOLATE_TOKEN_ROOT: tokenRoot, PERCOLATE_ADMIN_SECRET: adminSecret, PERCOLATE_MASTER_KEY: masterKey, PERCOLATE_ISSUER_KEYS: issuerKeys } = env;
  if (!tokenRoot || !adminSecret || !masterKey || !issuerKeys) {
    throw new Error('no secrets: set PERCOLATE_SECRETS_FILE, or PERCOLATE_TOKEN_ROOT, PERCOLATE_ADMIN_SECRET, PERCOLATE_MASTER_KEY (base64, 32 bytes) and PERCOLATE_ISSUER_KEYS (JSON array of issuer keys)');
  }
  return parseSecrets({ tokenRoot, adminSecret, masterKeys: { '1': masterKey }, currentMasterKeyVersion: 1, issuerKeys: JSON.parse(issuerKeys) as IssuerKey[] }, 'environment');
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
  const issuerKeys = raw.issuerKeys ?? [];
  if (issuerKeys.length === 0) throw new Error(`${source}: issuerKeys is required (the token issuer's ES256 key pairs; a new secrets file has them)`);
  for (const k of issuerKeys) {
    if (k.publicJwk?.kty !== 'EC' || k.publicJwk.crv !== 'P-256' || k.publicJwk.kid !== k.kid) throw new Error(`${source}: issuer key ${k.kid} must be a P-256 EC JWK carrying its kid`);
  }
  const currentIssuerKid = raw.currentIssuerKid ?? issuerKeys.at(-1)!.kid;
  if (!issuerKeys.some((k) => k.kid === currentIssuerKid)) throw new Error(`${source}: currentIssuerKid ${currentIssuerKid} names no issuer key`);
  return {
    issuerKeys,
    currentIssuerKid,
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
    issuerKeys: [newIssuerKey()],
  };
  content.currentIssuerKid = content.issuerKeys![0]!.kid;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(content, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** A fresh ES256 (P-256) issuer key pair; a random kid, so a rotated key never reuses a name. */
export function newIssuerKey(): IssuerKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' });
  const kid = `es256-${randomBytes(6).toString('hex')}`;
  return {
    kid,
    privateJwk: { ...privateKey.export({ format: 'jwk' }), kid },
    publicJwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' },
  };
}

/** The issuer's public keys as a JWKS (what Istio's RequestAuthentication and every service verify with). */
export function publicJwks(secrets: Pick<Secrets, 'issuerKeys'>): { keys: IssuerKey['publicJwk'][] } {
  return { keys: secrets.issuerKeys.map((k) => k.publicJwk) };
}

/** The same public keys as PEM (SPKI), by kid: HAProxy's `jwt_verify` reads a key file. */
export function publicKeyPems(secrets: Pick<Secrets, 'issuerKeys'>): Map<string, string> {
  return new Map(secrets.issuerKeys.map((k) => [k.kid, createPublicKey({ key: k.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()]));
}

/**
 * Rotates the issuer key in a secrets file: a new key signs from now on, the old ones stay
 * in the JWKS (so tokens already out verify until they expire) unless `keep` drops them.
 */
export function rotateIssuerKey(file: string, keep = 2): IssuerKey {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
  const fresh = newIssuerKey();
  raw.issuerKeys = [...(raw.issuerKeys ?? []), fresh].slice(-Math.max(1, keep));
  raw.currentIssuerKid = fresh.kid;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(raw, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return fresh;
}

/** @deprecated Tokens are ES256 from the issuer key now; kept for callers of the HS256 era. */
export function tenantSigningKey(secrets: Secrets, tenantId: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secrets.tokenRoot, 'percolate-tenant-token', tenantId, 32));
}
