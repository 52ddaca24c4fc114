import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../lib/repo.ts';

const KUSTOMIZATION = join(REPO_ROOT, 'manifests', 'base', 'kustomization.yaml');

/** One image of ours: what to build (Dockerfile, from the repository root) and what to call it. */
export interface ServiceImage {
  service: 'db-node' | 'worker' | 'gateway';
  /** `percolate/db-node:0.1.0`, as the manifests reference it after kustomize. */
  ref: string;
  /** Relative to the repository root. */
  dockerfile: string;
}

interface KustomizeImage { name: string; newName?: string; newTag?: string; digest?: string }

/**
 * The images the manifests run, from the one place they are named and tagged: the
 * `images:` of manifests/base/kustomization.yaml. Ours are `percolate/<service>`.
 */
export function serviceImages(kustomization: string = KUSTOMIZATION): ServiceImage[] {
  const { images = [] } = parse(readFileSync(kustomization, 'utf8')) as { images?: KustomizeImage[] };
  return images.filter((i) => i.name.startsWith('percolate/')).map((i) => {
    const service = i.name.slice('percolate/'.length) as ServiceImage['service'];
    if (!i.newTag) throw new Error(`${kustomization}: image ${i.name} has no newTag: pin it there`);
    return { service, ref: `${i.newName ?? i.name}:${i.newTag}`, dockerfile: `reference-services/${service}/Dockerfile` };
  });
}

/** Every image of the kustomization (ours and third-party), `name:tag`, for pre-loading a cluster. */
export function allManifestImages(kustomization: string = KUSTOMIZATION): string[] {
  const { images = [] } = parse(readFileSync(kustomization, 'utf8')) as { images?: KustomizeImage[] };
  return images.map((i) => `${i.newName ?? i.name}${i.digest ? `@${i.digest}` : `:${i.newTag ?? 'latest'}`}`);
}
