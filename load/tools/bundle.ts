/**
 * `npm run load:bundle`: each k6 script as one JavaScript file in load/dist/, for k6
 * releases before native TypeScript and for the k6-operator (which mounts one file). ES2017,
 * not ES2019: k6 v0.48 fails to parse object spread, so that is lowered too, and what any
 * ES2019 runtime reads.
 * `k6` and `k6/*` stay imports: the k6 runtime provides them. Every bundle is checked to
 * be plain JavaScript (Node parses it) that imports nothing but k6 modules.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

export const LOAD_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DIST_DIR = join(LOAD_DIR, 'dist');
export const scriptFiles = (): string[] => readdirSync(LOAD_DIR).filter((f) => f.endsWith('.ts')).sort().map((f) => join(LOAD_DIR, f));

/** esbuild options shared with the tests (which bundle in memory). */
export const bundleOptions: BuildOptions = {
  bundle: true,
  format: 'esm',
  target: 'es2017',
  platform: 'neutral',
  external: ['k6', 'k6/*'],
  logLevel: 'warning',
  legalComments: 'none',
};

/** Imports a bundle keeps: must all be k6's own modules. */
export function foreignImports(js: string): string[] {
  const specifiers = [...js.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  return specifiers.filter((s) => s !== 'k6' && !s.startsWith('k6/'));
}

/** One script's bundle in memory (what a k6-operator ConfigMap carries), checked like the files. */
export async function bundleScript(script: string): Promise<string> {
  const out = await build({ ...bundleOptions, entryPoints: [join(LOAD_DIR, `${script}.ts`)], write: false });
  const js = out.outputFiles[0]!.text;
  const foreign = foreignImports(js);
  if (foreign.length) throw new Error(`the bundle of ${script} imports ${foreign.join(', ')}: only k6 modules may stay external`);
  return js;
}

export async function bundleAll(): Promise<string[]> {
  const entries = scriptFiles();
  await build({ ...bundleOptions, entryPoints: entries, outdir: DIST_DIR, outExtension: { '.js': '.js' } });
  const outputs = entries.map((e) => join(DIST_DIR, `${basename(e, '.ts')}.js`));
  for (const out of outputs) {
    // Parses as an ES module, so no TypeScript syntax survived (and nothing newer than Node knows).
    execFileSync(process.execPath, ['--check', out], { stdio: 'pipe' });
    const foreign = foreignImports(readFileSync(out, 'utf8'));
    if (foreign.length) throw new Error(`${out} imports ${foreign.join(', ')}: only k6 modules may stay external`);
  }
  return outputs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outputs = await bundleAll();
  for (const out of outputs) process.stdout.write(`${out.slice(LOAD_DIR.length)}  ${readFileSync(out).length} bytes, ES2017, imports: ${[...new Set([...readFileSync(out, 'utf8').matchAll(/^import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]))].join(' ')}\n`);
}
