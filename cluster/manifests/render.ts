import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { K8sObject, ProfileOverlay, RenderedManifests } from './types.ts';

export const MANIFESTS_DIR = fileURLToPath(new URL('../../manifests/', import.meta.url));
export const PROFILE_OVERLAYS: readonly ProfileOverlay[] = ['fast', 'realistic'];

const INSTALL_HINT =
  'install kubectl 1.27 or newer (it carries kustomize): https://kubernetes.io/docs/tasks/tools/ ' +
  '(Debian/Ubuntu: the pkgs.k8s.io apt repository; macOS: brew install kubectl), or put a standalone ' +
  '`kustomize` on PATH';

export interface RenderOptions {
  /** The kubectl binary; default `kubectl` from PATH, then `kustomize` from PATH. */
  kubectl?: string;
}

interface RunResult { stdout: string; missing: boolean }

function run(bin: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 32 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, missing: false });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve({ stdout: '', missing: true });
      reject(new Error(`${bin} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
    });
  });
}

/** Renders `manifests/overlays/<overlay>` the way `kubectl apply -k` would see it. */
export async function renderOverlay(overlay: ProfileOverlay, options: RenderOptions = {}): Promise<RenderedManifests> {
  if (!PROFILE_OVERLAYS.includes(overlay)) {
    throw new Error(`unknown overlay "${String(overlay)}": expected one of ${PROFILE_OVERLAYS.join(', ')}`);
  }
  const dir = join(MANIFESTS_DIR, 'overlays', overlay);
  const kubectl = options.kubectl ?? 'kubectl';
  let result = await run(kubectl, ['kustomize', dir]);
  if (result.missing && options.kubectl === undefined) result = await run('kustomize', ['build', dir]);
  if (result.missing) {
    throw new Error(`cannot render ${dir}: "${kubectl}" was not found. To render the manifests, ${INSTALL_HINT}.`);
  }
  return { objects: parseObjects(result.stdout, dir), overlay };
}

/** Parses multi-document YAML into objects, refusing anything that is not a Kubernetes object. */
export function parseObjects(text: string, source = 'manifests'): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: invalid YAML: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const obj = value as Partial<K8sObject>;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || typeof obj.metadata?.name !== 'string') {
      throw new Error(`${source}: a document is not a Kubernetes object (apiVersion, kind and metadata.name are required): ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(obj as K8sObject);
  }
  return objects;
}

export function findObject(m: RenderedManifests, kind: string, name: string): K8sObject {
  const found = m.objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} "${name}" in the ${m.overlay} manifests`);
  return found;
}

/** Objects of one kind, in manifest order. */
export function objectsOfKind(m: RenderedManifests, kind: string): K8sObject[] {
  return m.objects.filter((o) => o.kind === kind);
}
