// Prints a bearer token for curl and k6:
//   npx tsx scripts/token.ts tenant-001            (tier from fixtures/tenants.yaml, else small)
//   npx tsx scripts/token.ts tenant-x --tier large --ttl 7200
//   npx tsx scripts/token.ts --admin
//   npx tsx scripts/token.ts --jwks              (the issuer's public keys, for RequestAuthentication's `jwks`)
//   npx tsx scripts/token.ts --rotate-issuer     (a new signing key; the old one stays in the JWKS)
//     in a file no cluster is running on; a running local cluster: npx percolate test-topology issuer rotate
// Secrets come from PERCOLATE_SECRETS_FILE (lib/config.ts), else .percolate/secrets.json (created if missing).
import { parseArgs } from 'node:util';
import { tierOf } from '../fixtures/tenants.ts';
import { harnessConfig } from '../lib/config.ts';
import { mintAdminToken, mintTenantToken } from '../reference-services/shared/auth.ts';
import { DEFAULT_SECRETS_FILE, ensureSecretsFile, loadSecrets, publicJwks, rotateIssuerKey } from '../reference-services/shared/secrets.ts';
import { TENANT_ID_PATTERN, isTier } from '../reference-services/shared/tenant-id.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { admin: { type: 'boolean' }, jwks: { type: 'boolean' }, 'rotate-issuer': { type: 'boolean' }, tier: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
});
const fail = (message: string): never => { process.stderr.write(`token: ${message}\n`); process.exit(2); };

const file = harnessConfig().secretsFile ?? ensureSecretsFile(DEFAULT_SECRETS_FILE);
const secrets = loadSecrets({ PERCOLATE_SECRETS_FILE: file });
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');

if (values['rotate-issuer']) {
  process.stdout.write(`${rotateIssuerKey(file).kid}\n`);
} else if (values.jwks) {
  process.stdout.write(`${JSON.stringify(publicJwks(secrets))}\n`);
} else if (values.admin) {
  process.stdout.write(`${await mintAdminToken(secrets, ttl)}\n`);
} else {
  const tenant = positionals[0] ?? fail('usage: token <tenant> [--tier small|medium|large] [--ttl seconds] | --admin');
  if (!TENANT_ID_PATTERN.test(tenant)) fail(`tenant id must match ${TENANT_ID_PATTERN.source}`);
  const tier = values.tier ?? tierOf(tenant) ?? 'small';
  if (!isTier(tier)) fail('--tier must be small, medium or large');
  process.stdout.write(`${await mintTenantToken(secrets, tenant, tier as never, ttl)}\n`);
}
