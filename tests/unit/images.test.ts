import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type K8sObject, renderOverlay } from '../../cluster/manifests.ts';
import { checkDockerfile, formatProblems } from '../../cluster/images/dockerfile-check.ts';
import { serviceImages } from '../../cluster/images/images.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
// @ts-expect-error: a plain .mjs script, run by the image build
import { bundleService } from '../../scripts/bundle-service.mjs';

type Json = any;
let objects: K8sObject[] = [];
beforeAll(async () => { objects = (await renderOverlay('fast')).objects; });

/** uid, gid and containerPort of the containers that run an image, from the rendered manifests. */
function manifestFacts(ref: string): { uid: number; gid: number; port: number }[] {
  return objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment').flatMap((o) => {
    const pod: Json = o.spec.template.spec;
    return pod.containers.filter((c: Json) => c.image === ref).map((c: Json) => ({
      uid: c.securityContext?.runAsUser ?? pod.securityContext.runAsUser,
      gid: c.securityContext?.runAsGroup ?? pod.securityContext.runAsGroup,
      port: c.ports[0].containerPort,
    }));
  });
}

describe('images', () => {
  it('every service image of the kustomization has a Dockerfile, and the manifests run exactly those refs', () => {
    const images = serviceImages();
    expect(images.map((i) => i.service).sort()).toEqual(['db-node', 'gateway', 'worker']);
    for (const image of images) {
      expect(existsSync(join(REPO_ROOT, image.dockerfile)), image.dockerfile).toBe(true);
      expect(manifestFacts(image.ref).length, `no workload runs ${image.ref}`).toBeGreaterThan(0);
    }
  });

  it('each Dockerfile passes the static checks with the uid and port its manifests give it', () => {
    for (const image of serviceImages()) {
      const facts = manifestFacts(image.ref);
      for (const f of facts) {
        const problems = checkDockerfile(readFileSync(join(REPO_ROOT, image.dockerfile), 'utf8'), f);
        expect(problems, formatProblems(image.dockerfile, problems)).toEqual([]);
      }
    }
  });

  it('the checker catches what hadolint would (each rule fires on its own mistake)', () => {
    const good = readFileSync(join(REPO_ROOT, 'reference-services/db-node/Dockerfile'), 'utf8');
    const rules = (text: string, expect = { uid: 10001, gid: 10001, port: 8080 }) => checkDockerfile(text, expect).map((p) => p.rule);
    expect(rules(good)).toEqual([]);
    expect(rules(good.replaceAll('node:22.12.0-bookworm-slim', 'node:latest'))).toContain('DL3007');
    expect(rules(good.replaceAll('node:22.12.0-bookworm-slim', 'node'))).toContain('DL3006');
    expect(rules(good.replaceAll('node:22.12.0-bookworm-slim', 'node:22-bookworm-slim'))).toContain('pinned-base');
    expect(rules(good.replace('USER 10001:10001', 'USER root'))).toContain('DL3002');
    expect(rules(good.replace('USER 10001:10001\n', ''))).toContain('DL3002');
    expect(rules(good.replace('USER 10001:10001', 'USER node'))).toContain('numeric-user');
    expect(rules(good.replace('USER 10001:10001', 'USER 1000:1000'))).toContain('manifest-uid');
    expect(rules(good.replace('COPY tsconfig.json ./', 'ADD https://example.com/x.tgz /x'))).toContain('DL3020');
    expect(rules(good.replace('tini=0.19.0-1+b3', 'tini'))).toContain('DL3008');
    expect(rules(good.replace(' --no-install-recommends', ''))).toContain('DL3015');
    expect(rules(good.replace(' \\\n && rm -rf /var/lib/apt/lists/*', ''))).toContain('DL3009');
    expect(rules(good.replace('ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps"]', 'ENTRYPOINT ["node"]'))).toContain('init');
    expect(rules(good.replace(/CMD \[.*\]/, 'CMD node /app/x.mjs').replace(/ENTRYPOINT .*\n/, ''))).toContain('DL3025');
    expect(rules(good.replace('EXPOSE 8080', 'EXPOSE 9999'))).toContain('manifest-port');
    expect(rules(good.replace('npm ci --ignore-scripts', 'npm install --ignore-scripts'))).toContain('npm-ci');
    expect(rules(good.replace('COPY --from=build /out/ /app/', 'COPY reference-services/ /app/'))).toContain('multi-stage');
  });

  it('the build step bundles a service with what it reads beside it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'percolate-bundle-'));
    try {
      const main = await bundleService('gateway', out);
      expect(readFileSync(main, 'utf8')).toContain('gateway failed to start');
      expect(existsSync(join(out, 'fixtures', 'time-profiles.yaml'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
