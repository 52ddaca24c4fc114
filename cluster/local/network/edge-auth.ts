/**
 * The load balancer as the mesh's edge: it verifies every bearer token before it routes
 * (as Istio's RequestAuthentication does at the ingress), so a forged, expired, foreign or
 * unsigned token never reaches a pod, and never counts as demand at a tier's activator.
 *
 * HAProxy 2.6's `jwt_verify(<alg>,<file>)` checks the signature against a public key file
 * that must be named literally in the configuration (its key cache is filled at start),
 * so each key of the issuer's JWKS gets a file and a line chosen by the token's `kid`.
 * It checks only the signature: the algorithm, issuer, expiry and tenant are checked here
 * with the token's decoded header and payload.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TENANT_HEADER } from '../../../lib/names.ts';
import { ISSUER, TOKEN_ALG } from '../../../reference-services/shared/auth.ts';
import { loadSecrets, publicKeyPems } from '../../../reference-services/shared/secrets.ts';

export interface EdgeAuth {
  issuer: string;
  alg: string;
  /** One PEM (SPKI) file per key id of the JWKS: every key a token may still be signed with. */
  keys: Array<{ kid: string; pemFile: string }>;
  /** The routing header whose tenant must be the token's (`X-Tenant-ID`). */
  tenantHeader: string;
}

const SAFE = /^[A-Za-z0-9._:/-]+$/;

/** Writes the issuer's public keys where HAProxy reads them; the private keys stay in the secrets file. */
export function edgeAuthFromSecrets(secretsFile: string, dir: string, tenantHeader = TENANT_HEADER): EdgeAuth {
  mkdirSync(dir, { recursive: true });
  const keys: EdgeAuth['keys'] = [];
  for (const [kid, pem] of publicKeyPems(loadSecrets({ PERCOLATE_SECRETS_FILE: secretsFile }))) {
    const pemFile = join(dir, `${kid}.pem`);
    writeFileSync(pemFile, pem, { mode: 0o644 });
    keys.push({ kid, pemFile });
  }
  return { issuer: ISSUER, alg: TOKEN_ALG, keys, tenantHeader };
}

/** Removes the key files of keys retired since, once no HAProxy configuration names them. */
export function pruneEdgeKeys(dir: string, edge: EdgeAuth): void {
  const kept = new Set(edge.keys.map((k) => k.pemFile));
  for (const file of readdirSync(dir)) if (file.endsWith('.pem') && !kept.has(join(dir, file))) rmSync(join(dir, file), { force: true });
}

const refuse = (status: 401 | 403, error: string, reason: string) =>
  `  http-request return status ${status} content-type application/json string '{"error":"${error}","reason":"${reason} (refused at the edge)"}'${status === 401 ? ' hdr www-authenticate Bearer' : ''}`;

/** The stick table of tokens whose signature verified: keyed by their SHA-256, forgotten after a minute unused. */
export const EDGE_TOKEN_CACHE = 'edge-verified-tokens';

/** The section that holds the verified-token table (HAProxy keeps a table in a proxy of its own). */
export function edgeTokenCacheLines(): string[] {
  return [`backend ${EDGE_TOKEN_CACHE}`, '  stick-table type binary len 32 size 100k expire 60s store gpt0'];
}

/** The frontend lines that refuse a request whose token does not verify, before any routing. */
export function edgeAuthLines(edge: EdgeAuth): string[] {
  for (const v of [edge.issuer, edge.alg, edge.tenantHeader, ...edge.keys.flatMap((k) => [k.kid, k.pemFile])]) {
    if (!SAFE.test(v)) throw new Error(`edge auth: "${v}" must be letters, digits, '.', '_', ':', '/' or '-'`);
  }
  return [
    '  http-request set-var(txn.jwt) http_auth_bearer',
    `${refuse(401, 'unauthorized', 'missing bearer token')} unless { var(txn.jwt) -m found }`,
    "  http-request set-var(txn.jwt_alg) var(txn.jwt),jwt_header_query('$.alg')",
    "  http-request set-var(txn.jwt_kid) var(txn.jwt),jwt_header_query('$.kid')",
    // Pinning the algorithm refuses `alg: none` and HS256-with-the-public-key confusion.
    `${refuse(401, 'unauthorized', `token algorithm must be ${edge.alg}`)} unless { var(txn.jwt_alg) -m str ${edge.alg} }`,
    // A token verified before is not verified again (Envoy's jwt_authn keeps such a cache
    // too): an ES256 check per request cost the data path a fifth of its throughput. The
    // key is the SHA-256 of the whole token, signature included, so a token that differs
    // in any byte from one that verified is verified afresh. Expiry, issuer and tenant are
    // still checked on every request below.
    '  http-request set-var(txn.jwt_sha) var(txn.jwt),sha2(256)',
    `  http-request set-var(txn.jwt_ok) int(1) if { var(txn.jwt_sha),table_gpt0(${EDGE_TOKEN_CACHE}) -m int 1 }`,
    ...edge.keys.map((k) => `  http-request set-var(txn.jwt_ok) var(txn.jwt),jwt_verify("${edge.alg}","${k.pemFile}") if !{ var(txn.jwt_ok) -m found } { var(txn.jwt_kid) -m str ${k.kid} }`),
    `${refuse(401, 'unauthorized', 'invalid token signature or unknown kid')} unless { var(txn.jwt_ok) -m int 1 }`,
    `  http-request track-sc0 var(txn.jwt_sha) table ${EDGE_TOKEN_CACHE}`,
    '  http-request sc-set-gpt0(0) 1',
    "  http-request set-var(txn.jwt_iss) var(txn.jwt),jwt_payload_query('$.iss')",
    `${refuse(401, 'unauthorized', 'token issuer is not trusted')} unless { var(txn.jwt_iss) -m str ${edge.issuer} }`,
    '  http-request set-var(txn.now) date',
    "  http-request set-var(txn.jwt_exp) var(txn.jwt),jwt_payload_query('$.exp','int')",
    `${refuse(401, 'unauthorized', 'token expired')} unless { var(txn.jwt_exp),sub(txn.now) -m int gt 0 }`,
    // A tenant token must name the tenant the request is routed by; admin tokens carry no tenant.
    "  http-request set-var(txn.jwt_tenant) var(txn.jwt),jwt_payload_query('$.tenant')",
    `  http-request set-var(txn.hdr_tenant) req.hdr(${edge.tenantHeader})`,
    `${refuse(403, 'tenant_mismatch', 'token tenant does not match X-Tenant-ID')} if { var(txn.jwt_tenant) -m found } { var(txn.hdr_tenant) -m found } !{ var(txn.jwt_tenant),strcmp(txn.hdr_tenant) eq 0 }`,
  ];
}
