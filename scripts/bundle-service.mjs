#!/usr/bin/env node
// Bundles one reference service into a self-contained directory for its image: one ES
// module with every dependency inlined (no node_modules in the image, nothing written at
// run time), plus the files the service reads beside its code, at the same relative
// paths as in the repository (profile.ts reads ../../fixtures/time-profiles.yaml,
// db-node reads ./openapi.yaml).
//   node scripts/bundle-service.mjs <db-node|worker|gateway> <out dir>
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const SERVICES = ['db-node', 'worker', 'gateway'];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export async function bundleService(service, outDir) {
  if (!SERVICES.includes(service)) throw new Error(`unknown service "${service}" (one of ${SERVICES.join(', ')})`);
  const dir = join(outDir, 'reference-services', service);
  mkdirSync(dir, { recursive: true });
  await build({
    entryPoints: [join(root, 'reference-services', service, 'main.ts')],
    outfile: join(dir, 'main.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'warning',
    // CommonJS dependencies call require() on Node built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __percolateRequire } from 'node:module'; const require = __percolateRequire(import.meta.url);" },
  });
  const beside = [['fixtures', 'time-profiles.yaml'], ['reference-services', service, 'openapi.yaml']];
  for (const parts of beside) {
    const from = join(root, ...parts);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(outDir, ...parts)), { recursive: true });
    copyFileSync(from, join(outDir, ...parts));
  }
  return join(dir, 'main.mjs');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [service, outDir] = process.argv.slice(2);
  if (!service || !outDir) {
    process.stderr.write('usage: node scripts/bundle-service.mjs <db-node|worker|gateway> <out dir>\n');
    process.exit(2);
  }
  bundleService(service, resolve(outDir)).then((file) => process.stdout.write(`${file}\n`), (err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
