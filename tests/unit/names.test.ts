import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type RenderedManifests, PROFILE_OVERLAYS, findObject, hashHeader, objectsOfKind, podSpecOf, renderOverlay, scaledObjects, workloads,
} from '../../cluster/manifests.ts';
import { DB_FRONTEND } from '../../cluster/local/network/mesh-plan.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import * as headers from '../../reference-services/shared/headers.ts';
import {
  APP, DB_SERVICE, PART_OF, PART_OF_LABEL, DB_SMALL, DB_WORKLOADS, GATEWAY, GATEWAY_SERVICE, NAME_LABEL, NAMESPACE, NATS, PROMETHEUS, SCALED_OBJECTS, SECRETS,
  TENANT_HEADER, TENANT_TIER_HEADER, TIER_LABEL, TIERS, WORKER_SMALL, WORKER_WORKLOADS, dbPodSelector, dbWorkload, isPodOf, workerWorkload,
} from '../../lib/names.ts';

// lib/names.ts against the data it names: renaming a workload, a Service, a label or a mesh
// header in manifests/ without renaming it in lib/names.ts fails here, in both overlays.

const rendered = {} as Record<string, RenderedManifests>;

beforeAll(async () => {
  for (const m of await Promise.all(PROFILE_OVERLAYS.map((o) => renderOverlay(o)))) rendered[m.overlay] = m;
});

const names = (objects: Array<{ metadata: { name: string } }>) => objects.map((o) => o.metadata.name).sort();
const templateLabels = (m: RenderedManifests, kind: string, name: string): Record<string, string> =>
  findObject(m, kind, name).spec.template.metadata.labels;

describe.each(PROFILE_OVERLAYS)('lib/names.ts against the %s overlay', (overlay) => {
  const m = () => rendered[overlay]!;

  it('every object of ours is in NAMESPACE', () => {
    expect(names(objectsOfKind(m(), 'Namespace'))).toEqual([NAMESPACE]);
    for (const w of workloads(m())) {
      expect(findObject(m(), w.kind, w.name).metadata.namespace, `${w.kind}/${w.name}`).toBe(NAMESPACE);
      expect(w.labels[PART_OF_LABEL], `${w.kind}/${w.name}`).toBe(PART_OF);
    }
  });

  it('the database workloads are one StatefulSet per tier, named dbWorkload(tier), their pods labelled with the tier', () => {
    const dbs = workloads(m()).filter((w) => w.service === 'db-node');
    expect(dbs.map((w) => [w.kind, w.name]).sort()).toEqual(DB_WORKLOADS.map((n) => ['StatefulSet', n]).sort());
    for (const tier of TIERS) {
      expect(templateLabels(m(), 'StatefulSet', dbWorkload(tier))).toMatchObject(dbPodSelector(tier));
    }
    expect(DB_SMALL).toBe(dbWorkload('small'));
  });

  it('the workers are one Deployment per tier, named workerWorkload(tier), and the gateway is the Deployment GATEWAY', () => {
    const named = (service: string) => workloads(m()).filter((w) => w.service === service).map((w) => [w.kind, w.name]).sort();
    expect(named('worker')).toEqual(WORKER_WORKLOADS.map((n) => ['Deployment', n]).sort());
    expect(named('gateway')).toEqual([['Deployment', GATEWAY]]);
    for (const tier of TIERS) {
      expect(templateLabels(m(), 'Deployment', workerWorkload(tier))).toMatchObject({ [NAME_LABEL]: APP.worker, [TIER_LABEL]: tier });
    }
    expect(WORKER_SMALL).toBe(workerWorkload('small'));
    expect(templateLabels(m(), 'Deployment', GATEWAY)[NAME_LABEL]).toBe(APP.gateway);
  });

  it('SCALED_OBJECTS are every ScaledObject, each named as the workload it scales', () => {
    const specs = scaledObjects(m());
    expect(specs.map((so) => so.name).sort()).toEqual([...SCALED_OBJECTS].sort());
    for (const so of specs) expect(so.target.name, `ScaledObject ${so.name}`).toBe(so.name);
  });

  it('the Services: DB_SERVICE over every database pod, one per tier, GATEWAY_SERVICE, NATS and PROMETHEUS', () => {
    const services = names(objectsOfKind(m(), 'Service'));
    expect(services).toEqual(expect.arrayContaining([DB_SERVICE, ...DB_WORKLOADS, GATEWAY_SERVICE, NATS, PROMETHEUS]));
    expect(findObject(m(), 'Service', DB_SERVICE).spec.selector).toEqual(dbPodSelector());
    for (const tier of TIERS) expect(findObject(m(), 'Service', dbWorkload(tier)).spec.selector).toMatchObject(dbPodSelector(tier));
    expect(findObject(m(), 'Service', GATEWAY_SERVICE).spec.selector[NAME_LABEL]).toBe(APP.gateway);
    expect(findObject(m(), 'StatefulSet', NATS).kind).toBe('StatefulSet');
    expect(findObject(m(), 'Deployment', PROMETHEUS).kind).toBe('Deployment');
    // The local load balancer's database frontend stands for the Service every tier sits behind.
    expect(DB_FRONTEND).toBe(DB_SERVICE);
  });

  it('every service mounts the SECRETS Secret', () => {
    for (const w of workloads(m())) {
      const volumes: Array<{ secret?: { secretName?: string } }> = podSpecOf(findObject(m(), w.kind, w.name))?.volumes ?? [];
      expect(volumes.map((v) => v.secret?.secretName).filter(Boolean), `${w.kind}/${w.name}`).toContain(SECRETS);
    }
  });

  it('the mesh hashes each tier on TENANT_HEADER and routes tiers on TENANT_TIER_HEADER', () => {
    for (const tier of TIERS) expect(hashHeader(m(), dbWorkload(tier))).toBe(TENANT_HEADER);
    const claims = findObject(m(), 'RequestAuthentication', 'percolate-tenant-tier').spec.jwtRules.flatMap((r: { outputClaimToHeaders?: Array<{ header: string }> }) => r.outputClaimToHeaders ?? []);
    expect(claims.map((c: { header: string }) => c.header.toLowerCase())).toEqual([TENANT_TIER_HEADER]);
    const routed = findObject(m(), 'VirtualService', DB_SERVICE).spec.http.flatMap((r: { match?: Array<{ headers?: Record<string, unknown> }> }) =>
      (r.match ?? []).flatMap((x) => Object.keys(x.headers ?? {})));
    expect(new Set(routed)).toEqual(new Set([TENANT_TIER_HEADER]));
  });
});

describe('lib/names.ts', () => {
  it('takes the headers of the HTTP contract from the services', async () => {
    const lib = await import('../../lib/names.ts');
    for (const [name, value] of Object.entries(headers)) expect(lib[name as keyof typeof lib], name).toBe(value);
  });

  it('is the harness\'s: the services import nothing from lib/ (their names live in reference-services/shared)', () => {
    const services = join(REPO_ROOT, 'reference-services');
    const offenders = readdirSync(services, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).flatMap((f) => {
      const file = join(services, f);
      return [...readFileSync(file, 'utf8').matchAll(/\bfrom\s+'([^']+)'|import\(\s*'([^']+)'/g)]
        .map((m) => m[1] ?? m[2]!)
        .filter((spec) => spec.startsWith('.') && !resolve(join(file, '..'), spec).startsWith(services))
        .map((spec) => `${relative(REPO_ROOT, file)} imports ${spec}`);
    });
    expect(offenders).toEqual([]);
  });

  it('tells a workload\'s pods by their names', () => {
    expect(isPodOf('percolate-db-small-0', DB_SMALL)).toBe(true);
    expect(isPodOf('percolate-db-small-0', dbWorkload('medium'))).toBe(false);
    expect(isPodOf('percolate-worker-small-7d9f-x2', WORKER_SMALL)).toBe(true);
    expect(isPodOf('percolate-worker-large-7d9f-x2', WORKER_SMALL)).toBe(false);
    expect(isPodOf(WORKER_SMALL, WORKER_SMALL)).toBe(false);
  });
});
