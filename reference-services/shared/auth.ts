import { type JWTPayload, SignJWT, createLocalJWKSet, decodeJwt, errors as joseErrors, importJWK, jwtVerify } from 'jose';
import type { Context, Next } from 'koa';
import { LRUCache } from 'lru-cache';
import { HttpError } from './errors.ts';
import { TENANT_HEADER } from './headers.ts';
import type { Secrets } from './secrets.ts';
import { publicJwks, refreshIssuerKeys } from './secrets.ts';
import { TENANT_ID_PATTERN, type Tier, assertTenantId, isTier } from './tenant-id.ts';

/** The `iss` every token carries; the edge (HAProxy, Istio) checks it as the services do. */
export const ISSUER = 'percolate';
/**
 * One issuer key pair signs every token (ES256, `kid` in the header), so that anyone with
 * the public JWKS — the load balancer, the ingress, each service — can verify a token
 * without a secret, and a forged claim is refused before it is routed.
 */
export const TOKEN_ALG = 'ES256';
const ALG = TOKEN_ALG;

type SigningKey = Awaited<ReturnType<typeof importJWK>>;
const signingKeys = new WeakMap<Secrets, { kid: string; key: Promise<SigningKey> }>();
const verifyKeys = new WeakMap<Secrets, ReturnType<typeof createLocalJWKSet>>();

/** How stale a process's issuer keys may be: a retired key stops verifying, and a new signing key starts signing, within this. */
export const ISSUER_KEYS_REFRESH_MS = 1_000;
const keysCheckedAt = new WeakMap<Secrets, number>();

/**
 * Reads the issuer keys again when their file was rewritten (a rotation): at once for a
 * token whose `kid` is not known here (its key may have just been published), else at
 * most every ISSUER_KEYS_REFRESH_MS. What was derived from the old keys is dropped.
 */
function refreshKeys(secrets: Secrets, unknownKid = false): boolean {
  const now = Date.now();
  if (!unknownKid && now - (keysCheckedAt.get(secrets) ?? 0) < ISSUER_KEYS_REFRESH_MS) return false;
  keysCheckedAt.set(secrets, now);
  if (!refreshIssuerKeys(secrets)) return false;
  signingKeys.delete(secrets);
  verifyKeys.delete(secrets);
  verified.get(secrets)?.clear();
  return true;
}

function signingKey(secrets: Secrets): { kid: string; key: Promise<SigningKey> } {
  refreshKeys(secrets);
  let cached = signingKeys.get(secrets);
  if (!cached) {
    const current = secrets.issuerKeys.find((k) => k.kid === secrets.currentIssuerKid);
    if (!current?.privateJwk) throw new Error(`the secrets hold no private key for issuer key ${secrets.currentIssuerKid}: this process can verify tokens, not mint them`);
    cached = { kid: current.kid, key: importJWK(current.privateJwk as never, ALG) };
    signingKeys.set(secrets, cached);
  }
  return cached;
}

function verifyKey(secrets: Secrets): ReturnType<typeof createLocalJWKSet> {
  let jwks = verifyKeys.get(secrets);
  if (!jwks) {
    jwks = createLocalJWKSet(publicJwks(secrets) as never);
    verifyKeys.set(secrets, jwks);
  }
  return jwks;
}

export interface SignOptions {
  subject: string;
  /** Lifetime from now; ignored when `expiresAt` is given. */
  ttlSeconds?: number;
  /** Seconds since the epoch (tests make expired tokens with it). */
  issuedAt?: number;
  expiresAt?: number;
  issuer?: string;
}

/** Signs any claims with the issuer's current key: the one place tokens are made. */
export async function signToken(secrets: Secrets, claims: JWTPayload, options: SignOptions): Promise<string> {
  const { kid, key } = signingKey(secrets);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, typ: 'JWT', kid })
    .setIssuer(options.issuer ?? ISSUER).setSubject(options.subject)
    .setIssuedAt(options.issuedAt)
    .setExpirationTime(options.expiresAt ?? `${options.ttlSeconds ?? 3600}s`)
    .sign(await key);
}

export interface TenantIdentity { kind: 'tenant'; tenantId: string; tier: Tier }
export interface AdminIdentity { kind: 'admin' }

export async function mintTenantToken(secrets: Secrets, tenantId: string, tier: Tier, ttlSeconds = 3600): Promise<string> {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id "${tenantId}"`);
  return signToken(secrets, { tenant: tenantId, tier }, { subject: tenantId, ttlSeconds });
}

export async function mintAdminToken(secrets: Secrets, ttlSeconds = 3600): Promise<string> {
  return signToken(secrets, { role: 'admin' }, { subject: 'admin', ttlSeconds });
}

const unauthorized = (reason: string, cause?: unknown) =>
  new HttpError(401, 'unauthorized', reason, { 'WWW-Authenticate': 'Bearer' }, { cause });

function bearer(ctx: Context): string {
  const header = ctx.get('authorization');
  if (!header) throw unauthorized('missing bearer token');
  const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header);
  if (!match?.[1]) throw unauthorized('authorization header must be "Bearer <token>"');
  return match[1];
}

function verifyFailure(err: unknown): HttpError {
  if (err instanceof joseErrors.JWTExpired) return unauthorized('token expired', err);
  return unauthorized('invalid token', err);
}

/**
 * Tokens already verified, until they expire. A client sends the same token with every
 * request; checking its signature once instead of each time keeps auth off the hot path of a
 * cached read. The cache is per secrets object, so a test's second cluster never shares it.
 */
const verified = new WeakMap<Secrets, LRUCache<string, TenantIdentity>>();

function verifiedCache(secrets: Secrets): LRUCache<string, TenantIdentity> {
  let cache = verified.get(secrets);
  if (!cache) {
    cache = new LRUCache<string, TenantIdentity>({ max: 10_000, ttlAutopurge: false });
    verified.set(secrets, cache);
  }
  return cache;
}

/** Verifies a tenant token against the issuer's JWKS (the key its `kid` names). */
export async function verifyTenantToken(secrets: Secrets, token: string): Promise<TenantIdentity> {
  refreshKeys(secrets);
  const cache = verifiedCache(secrets);
  const hit = cache.get(token);
  if (hit) return hit;
  const identity = await verifyTenantTokenUncached(secrets, token);
  const expSeconds = decodeJwt(token).exp;
  const ttl = expSeconds ? expSeconds * 1000 - Date.now() : 0;
  if (ttl > 0) cache.set(token, identity, { ttl });
  return identity;
}

async function verifyTenantTokenUncached(secrets: Secrets, token: string): Promise<TenantIdentity> {
  let claimed: unknown;
  try {
    claimed = decodeJwt(token).tenant;
  } catch (err) {
    throw unauthorized('malformed token', err);
  }
  if (typeof claimed !== 'string' || !TENANT_ID_PATTERN.test(claimed)) throw unauthorized('token has no valid tenant claim');
  try {
    const { payload } = await verifyWithKnownKeys(secrets, token);
    if (payload.sub !== claimed || !isTier(payload.tier)) throw unauthorized('token claims are inconsistent');
    return { kind: 'tenant', tenantId: claimed, tier: payload.tier };
  } catch (err) {
    throw err instanceof HttpError ? err : verifyFailure(err);
  }
}

/** Verifies with the issuer keys held, or with the file's once more when the token's `kid` is new here. */
async function verifyWithKnownKeys(secrets: Secrets, token: string): ReturnType<typeof jwtVerify> {
  try {
    return await jwtVerify(token, verifyKey(secrets), { issuer: ISSUER, algorithms: [ALG] });
  } catch (err) {
    if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !refreshKeys(secrets, true)) throw err;
    return jwtVerify(token, verifyKey(secrets), { issuer: ISSUER, algorithms: [ALG] });
  }
}

/**
 * Tenant auth for the database API: a valid token is required, and its tenant must be
 * the one `X-Tenant-ID` names (the header the mesh routes on), so that a request can
 * never be routed by one tenant and served as another.
 */
export function requireTenant(secrets: Secrets) {
  return async (ctx: Context, next: Next) => {
    const identity = await verifyTenantToken(secrets, bearer(ctx));
    const headerTenant = ctx.get(TENANT_HEADER);
    if (!headerTenant) throw new HttpError(400, 'missing_tenant_header', 'X-Tenant-ID header is required');
    assertTenantId(headerTenant, 'X-Tenant-ID');
    if (headerTenant !== identity.tenantId) {
      throw new HttpError(403, 'tenant_mismatch', 'token tenant does not match X-Tenant-ID');
    }
    ctx.state.identity = identity;
    await next();
  };
}

/** Tenant auth for the gateway: the token alone decides the tenant. */
export function requireTenantToken(secrets: Secrets) {
  return async (ctx: Context, next: Next) => {
    ctx.state.identity = await verifyTenantToken(secrets, bearer(ctx));
    await next();
  };
}

export function requireAdmin(secrets: Secrets) {
  return async (ctx: Context, next: Next) => {
    try {
      refreshKeys(secrets);
      const { payload } = await verifyWithKnownKeys(secrets, bearer(ctx));
      if (payload.role !== 'admin') throw new HttpError(403, 'forbidden', 'admin role required');
    } catch (err) {
      throw err instanceof HttpError ? err : verifyFailure(err);
    }
    ctx.state.identity = { kind: 'admin' } satisfies AdminIdentity;
    await next();
  };
}

export function tenantOf(ctx: Context): TenantIdentity {
  const identity = ctx.state.identity as TenantIdentity | undefined;
  if (identity?.kind !== 'tenant') throw new Error('tenantOf() used on a route without tenant auth');
  return identity;
}
