import { type JsonWebKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
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
  /**
   * The file they were read from, where a rotation writes the issuer's new keys (as a kubelet
   * updates a mounted Secret): a verifier reads its issuer keys there again (`refreshIssuerKeys`).
   */
  file?: string;
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
  if (file) return { ...parseSecrets(readSecretsFile(file), file), file };
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

function readSecretsFile(file: string): SecretsFile {
  return JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
}

/** Rewrites a secrets file in one step (a reader sees the old file or the new one, never half of one). */
function updateSecretsFile<T>(file: string, change: (raw: SecretsFile) => T): T {
  const raw = readSecretsFile(file);
  const result = change(raw);
  parseSecrets(raw, file);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(raw, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return result;
}

/** A rotation step that names a key the file does not hold, or would leave no key to sign with. */
export class IssuerKeyError extends Error {
  constructor(readonly code: 'unknown_kid' | 'current_kid', message: string) {
    super(message);
    this.name = 'IssuerKeyError';
  }
}

/**
 * Rotation, first step: a new key joins the JWKS without signing anything yet, so that every
 * verifier (the edge, each service) can know it before the first token it signs is seen.
 */
export function publishIssuerKey(file: string): IssuerKey {
  return updateSecretsFile(file, (raw) => {
    const fresh = newIssuerKey();
    raw.currentIssuerKid ??= raw.issuerKeys?.at(-1)?.kid;
    raw.issuerKeys = [...(raw.issuerKeys ?? []), fresh];
    return fresh;
  });
}

/** Rotation, second step: the published key signs from now on; the others still verify. */
export function activateIssuerKey(file: string, kid: string): void {
  updateSecretsFile(file, (raw) => {
    if (!raw.issuerKeys?.some((k) => k.kid === kid)) throw new IssuerKeyError('unknown_kid', `no issuer key ${kid} in ${file}`);
    raw.currentIssuerKid = kid;
  });
}

/** Rotation, last step: a key leaves the JWKS, and tokens it signed verify nowhere. The signing key cannot leave. */
export function retireIssuerKey(file: string, kid: string): IssuerKey[] {
  return updateSecretsFile(file, (raw) => {
    const current = raw.currentIssuerKid ?? raw.issuerKeys?.at(-1)?.kid;
    if (!raw.issuerKeys?.some((k) => k.kid === kid)) throw new IssuerKeyError('unknown_kid', `no issuer key ${kid} to retire`);
    if (kid === current) throw new IssuerKeyError('current_kid', `issuer key ${kid} signs the tokens now: rotate to a new key before retiring it`);
    raw.currentIssuerKid = current;
    raw.issuerKeys = raw.issuerKeys.filter((k) => k.kid !== kid);
    return raw.issuerKeys;
  });
}

/**
 * Rotates the issuer key in a secrets file at once (a cluster that is not running): a new
 * key signs from now on, the old ones stay in the JWKS (so tokens already out verify until
 * they expire) unless `keep` drops them. A running cluster rotates in steps (publish, then
 * activate, then retire), so that no verifier meets a key it does not know yet.
 */
export function rotateIssuerKey(file: string, keep = 2): IssuerKey {
  const fresh = publishIssuerKey(file);
  activateIssuerKey(file, fresh.kid);
  updateSecretsFile(file, (raw) => { raw.issuerKeys = raw.issuerKeys!.slice(-Math.max(1, keep)); });
  return fresh;
}

const seen = new WeakMap<Secrets, string>();

/**
 * Reads the issuer keys again from the file the secrets came from, when it was rewritten
 * since (a rotation replaces it, so its inode changes). The object is updated in place, as
 * every holder of it verifies with it. True when the keys or the signing key changed.
 */
export function refreshIssuerKeys(secrets: Secrets): boolean {
  if (!secrets.file) return false;
  let identity: string;
  try {
    const st = statSync(secrets.file, { bigint: true });
    identity = `${st.ino}:${st.mtimeNs}:${st.size}`;
  } catch {
    return false; // a file being replaced: the keys held stay until it is back
  }
  const last = seen.get(secrets);
  seen.set(secrets, identity);
  if (last === identity) return false;
  let fresh: Secrets;
  try {
    fresh = parseSecrets(readSecretsFile(secrets.file), secrets.file);
  } catch {
    seen.delete(secrets);
    return false;
  }
  const kids = (s: Secrets) => `${s.currentIssuerKid}|${s.issuerKeys.map((k) => k.kid).join(',')}`;
  if (kids(fresh) === kids(secrets)) return false;
  secrets.issuerKeys = fresh.issuerKeys;
  secrets.currentIssuerKid = fresh.currentIssuerKid;
  return true;
}
