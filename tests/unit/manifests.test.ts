import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  type Flow,
  type K8sObject,
  MANIFESTS_DIR,
  PROFILE_OVERLAYS,
  type PodPeer,
  type ProfileOverlay,
  type RenderedManifests,
  findObject,
  flowAllowed,
  hashHeader,
  imageBaseName,
  localityDistribution,
  podSpecOf,
  renderOverlay,
  scaledObjects,
  validateObjects,
  workloads,
} from '../../cluster/manifests.ts';
import { loadProfile } from '../../lib/time.ts';
import { jobSubject, jobsConsumer } from '../../reference-services/shared/nats.ts';

// Rendered manifests are untyped JSON; the assertions say what shape they expect.
type Json = any;

const rendered = {} as Record<ProfileOverlay, RenderedManifests>;

beforeAll(async () => {
  const all = await Promise.all(PROFILE_OVERLAYS.map((o) => renderOverlay(o)));
  for (const m of all) rendered[m.overlay] = m;
});

const each = (fn: (m: RenderedManifests) => void) => () => { for (const o of PROFILE_OVERLAYS) fn(rendered[o]); };

interface Pod { owner: string; spec: Json; containers: Json[] }
function pods(m: RenderedManifests): Pod[] {
  return m.objects.flatMap((o) => {
    const spec = podSpecOf(o);
    return spec ? [{ owner: `${o.kind}/${o.metadata.name}`, spec, containers: [...(spec.initContainers ?? []), ...spec.containers] }] : [];
  });
}

function container(m: RenderedManifests, kind: string, name: string): Json {
  return findObject(m, kind, name).spec.template.spec.containers[0];
}

function envOf(c: Json, name: string): Json {
  return (c.env ?? []).find((e: Json) => e.name === name);
}

const TIERS = ['small', 'medium', 'large'] as const;
const dbPodLabels = (tier: string) => ({ 'app.kubernetes.io/name': 'percolate-db', 'app.kubernetes.io/part-of': 'percolate', 'percolate.io/tier': tier });
const DB_POD_LABELS = dbPodLabels('small');
const pod = (labels: Record<string, string>, namespace = 'percolate'): PodPeer => ({ namespace, labels });
const PEERS = {
  db: pod(DB_POD_LABELS),
  dbLarge: pod(dbPodLabels('large')),
  worker: pod({ 'app.kubernetes.io/name': 'percolate-worker', 'app.kubernetes.io/part-of': 'percolate', 'percolate.io/tier': 'small' }),
  gateway: pod({ 'app.kubernetes.io/name': 'percolate-gateway', 'app.kubernetes.io/part-of': 'percolate' }),
  nats: pod({ 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/part-of': 'percolate' }),
  prometheus: pod({ 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/part-of': 'percolate' }),
  ingressGateway: pod({ istio: 'ingressgateway', app: 'istio-ingressgateway' }, 'istio-system'),
  istiod: pod({ app: 'istiod' }, 'istio-system'),
  kedaOperator: pod({ app: 'keda-operator' }, 'keda'),
  kubeDns: pod({ 'k8s-app': 'kube-dns' }, 'kube-system'),
  outsider: pod({ app: 'curl' }, 'default'),
  apiServer: { ip: '10.0.0.1' },
  internet: { ip: '203.0.113.7' },
} as const;
type PeerName = keyof typeof PEERS;

describe('rendering', () => {
  it('each overlay renders every component of docs/design.md §2', each((m) => {
    const expected: Array<[string, string]> = [
      ['Namespace', 'percolate'],
      ['StatefulSet', 'nats'], ['Service', 'nats'], ['PodDisruptionBudget', 'nats'],
      ['Deployment', 'prometheus'], ['Service', 'prometheus'], ['ServiceAccount', 'prometheus'],
      ['Role', 'prometheus-discovery'], ['RoleBinding', 'prometheus-discovery'],
      ['Service', 'percolate-db'],
      ...TIERS.flatMap((t): Array<[string, string]> => [
        ['StatefulSet', `percolate-db-${t}`], ['Service', `percolate-db-headless-${t}`], ['Service', `percolate-db-${t}`],
        ['PodDisruptionBudget', `percolate-db-${t}`], ['ScaledObject', `percolate-db-${t}`], ['DestinationRule', `percolate-db-${t}`],
      ]),
      ...TIERS.flatMap((t): Array<[string, string]> => [['Deployment', `percolate-worker-${t}`], ['ScaledObject', `percolate-worker-${t}`]]),
      ['Deployment', 'percolate-gateway'], ['Service', 'percolate-gateway'], ['PodDisruptionBudget', 'percolate-gateway'],
      ['VirtualService', 'percolate-db'], ['VirtualService', 'percolate-ingress'],
      ['Gateway', 'percolate-ingress'], ['RequestAuthentication', 'percolate-tenant-tier'],
      ['NetworkPolicy', 'default-deny-all'],
    ];
    for (const [kind, name] of expected) expect(() => findObject(m, kind, name), `${m.overlay}: ${kind}/${name}`).not.toThrow();
  }));

  it('every object carries app.kubernetes.io/part-of: percolate', each((m) => {
    const unlabelled = m.objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/part-of'] !== 'percolate');
    expect(unlabelled.map((o) => `${o.kind}/${o.metadata.name}`), m.overlay).toEqual([]);
  }));
});

describe('schema validation (offline, kubernetes-models + KEDA + Istio)', () => {
  it('every rendered object of both overlays validates', each((m) => {
    expect(validateObjects(m.objects), m.overlay).toEqual([]);
  }));

  it('the validator reports wrong types, unknown fields, bad quantities and unknown kinds', () => {
    const objects = structuredClone(rendered.fast.objects);
    const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as K8sObject;
    find('StatefulSet', 'percolate-db-small').spec.replicas = 'two';
    find('StatefulSet', 'percolate-db-small').spec.template.spec.containers[0].readinesProbe = {};
    find('Deployment', 'percolate-worker-small').spec.template.spec.containers[0].resources.limits.memory = '1 gig';
    find('DestinationRule', 'percolate-db-small').spec.trafficPolicy.loadBalancer.consistentHash.httpHeader = 'x-tenant-id';
    find('ScaledObject', 'percolate-worker-small').spec.pollingInterval = '1';
    objects.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });
    const errors = validateObjects(objects).join('\n');
    expect(errors).toMatch(/StatefulSet\/percolate-db-small: .*spec\/replicas must be integer/);
    expect(errors).toMatch(/StatefulSet\/percolate-db-small: unknown field spec\/template\/spec\/containers\/0\/readinesProbe/);
    expect(errors).toMatch(/Deployment\/percolate-worker-small: .*limits\/memory must match format "quantity"/);
    expect(errors).toMatch(/DestinationRule\/percolate-db-small: unknown field .*consistentHash\/httpHeader$/m);
    expect(errors).toMatch(/ScaledObject\/percolate-worker-small: .*spec\/pollingInterval must be integer/);
    expect(errors).toMatch(/Widget\/w: no schema for example.com\/v1 Widget/);
  });
});

describe('namespace', () => {
  it('percolate has sidecar injection, and every namespaced object lives in it (the ingress token rules beside the gateway)', each((m) => {
    expect(findObject(m, 'Namespace', 'percolate').metadata.labels?.['istio-injection']).toBe('enabled');
    const ingressRule = (o: { kind: string }) => o.kind === 'RequestAuthentication' || o.kind === 'AuthorizationPolicy';
    const misplaced = m.objects
      .filter((o) => o.kind !== 'Namespace')
      .filter((o) => o.metadata.namespace !== (ingressRule(o) ? 'istio-system' : 'percolate'));
    expect(misplaced.map((o) => `${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`)).toEqual([]);
  }));
});

describe.each(TIERS)('database StatefulSet percolate-db-%s', (tier) => {
  const name = `percolate-db-${tier}`;
  const labels = dbPodLabels(tier);

  it('has the labels, Services and port the mesh and the runtime rely on', each((m) => {
    const sts = findObject(m, 'StatefulSet', name);
    expect(sts.metadata.labels).toMatchObject(labels);
    expect(sts.spec.template.metadata.labels).toMatchObject(labels);
    expect(sts.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'percolate-db', 'percolate.io/tier': tier });
    expect(sts.spec.replicas, 'KEDA owns the count, from zero').toBe(0);
    expect(sts.spec.serviceName).toBe(`percolate-db-headless-${tier}`);
    const headless = findObject(m, 'Service', `percolate-db-headless-${tier}`);
    expect(headless.spec.clusterIP).toBe('None');
    const own = findObject(m, 'Service', name);
    expect(own.spec.clusterIP, 'the tier\'s mesh host balances (headless Services are not balanced by Envoy)').toBeUndefined();
    for (const svc of [headless, own]) expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'percolate-db', 'percolate.io/tier': tier });
    const lb = findObject(m, 'Service', 'percolate-db');
    expect(lb.spec.ports).toEqual([expect.objectContaining({ port: 8080, targetPort: 'http' })]);
    for (const svc of [headless, own, lb]) {
      expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 8080, targetPort: 'http' })]);
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(sts.spec.template.metadata.labels[k]).toBe(v);
    }
    const c = container(m, 'StatefulSet', name);
    expect(imageBaseName(c.image)).toBe('db-node');
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080 }]);
  }));

  it('no Service of the tier selects another tier\'s pods', each((m) => {
    for (const svc of [`percolate-db-headless-${tier}`, name]) {
      const selector = findObject(m, 'Service', svc).spec.selector as Record<string, string>;
      for (const other of TIERS.filter((t) => t !== tier)) {
        const otherLabels = findObject(m, 'StatefulSet', `percolate-db-${other}`).spec.template.metadata.labels;
        expect(Object.entries(selector).every(([k, v]) => otherLabels[k] === v), `${svc} selects ${other} pods`).toBe(false);
      }
    }
  }));

  it('is ready on /ready and alive on /health', each((m) => {
    const c = container(m, 'StatefulSet', name);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
  }));

  it('has the env contract of reference-services/README.md, TIER from its own tier label', each((m) => {
    const c = container(m, 'StatefulSet', name);
    expect(envOf(c, 'POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(envOf(c, 'NODE_NAME').valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(envOf(c, 'ZONE').valueFrom.fieldRef.fieldPath).toBe("metadata.labels['topology.kubernetes.io/zone']");
    expect(envOf(c, 'TIER').valueFrom.fieldRef.fieldPath).toBe("metadata.labels['percolate.io/tier']");
    expect(workloads(m).find((w) => w.name === name)?.env.TIER).toBe(tier);
    expect(envOf(c, 'NATS_URL').value).toBe('nats://nats.percolate.svc:4222');
    expect(envOf(c, 'HOST').value).toBe('0.0.0.0');
    expect(envOf(c, 'PORT').value).toBe('8080');
    for (const env of ['PERCOLATE_PROFILE', 'ACTIVE_WINDOW_SECONDS', 'COLD_OPEN_MS', 'TENANT_CACHE_SIZE', 'DRAIN_TIMEOUT_MS', 'UNREADY_GRACE_MS']) {
      expect(envOf(c, env), env).toBeDefined();
    }
  }));

  it('reads its secrets from the Secret percolate-secrets, mounted read-only as a file', each((m) => {
    const spec = findObject(m, 'StatefulSet', name).spec.template.spec;
    const c = spec.containers[0];
    expect(envOf(c, 'PERCOLATE_SECRETS_FILE').value).toBe('/etc/percolate/secrets.json');
    const mount = c.volumeMounts.find((v: Json) => v.mountPath === '/etc/percolate');
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: Json) => v.name === mount.name);
    expect(volume.secret).toMatchObject({ secretName: 'percolate-secrets', items: [{ key: 'secrets.json', path: 'secrets.json' }] });
  }));

  it('spreads its own pods across zones, sized by tier (seed 000: 512Mi for small, doubling per tier)', each((m) => {
    const spec = findObject(m, 'StatefulSet', name).spec.template.spec;
    const zone = spec.topologySpreadConstraints.find((t: Json) => t.topologyKey === 'topology.kubernetes.io/zone');
    expect(zone.labelSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'percolate-db', 'percolate.io/tier': tier });
    const memory = { small: '512Mi', medium: '1Gi', large: '2Gi' }[tier];
    expect(spec.containers[0].resources.limits.memory).toBe(memory);
    expect(spec.containers[0].resources.requests.memory).toBe(memory);
  }));
});

describe('worker and gateway', () => {
  it.each(TIERS)('percolate-worker-%s pulls its tier\'s jobs only, from its tier\'s consumer, and writes through the database load balancer', (tier) => {
    for (const m of Object.values(rendered)) {
      const dep = findObject(m, 'Deployment', `percolate-worker-${tier}`);
      const labels = { 'app.kubernetes.io/name': 'percolate-worker', 'percolate.io/tier': tier };
      expect(dep.spec.template.metadata.labels).toMatchObject(labels);
      expect(dep.spec.selector.matchLabels).toEqual(labels);
      const zone = dep.spec.template.spec.topologySpreadConstraints.find((t: Json) => t.topologyKey === 'topology.kubernetes.io/zone');
      expect(zone.labelSelector.matchLabels).toEqual(labels);
      const c = dep.spec.template.spec.containers[0];
      expect(imageBaseName(c.image)).toBe('worker');
      expect(c.ports[0].containerPort).toBe(8081);
      expect(envOf(c, 'DB_URL').value).toBe('http://percolate-db.percolate.svc:8080');
      // The names the services use (the gateway creates these consumers, publishes on these subjects).
      expect(envOf(c, 'JOBS_CONSUMER').value).toBe(jobsConsumer(tier));
      expect(envOf(c, 'JOBS_FILTER').value).toBe(jobSubject(tier));
      for (const name of ['PARSE_MS_MIN', 'PARSE_MS_MAX', 'ACK_WAIT_MS', 'MAX_DELIVER']) expect(envOf(c, name), name).toBeDefined();
    }
  });

  it('percolate-gateway serves 8082 behind the Service percolate-gateway', each((m) => {
    const dep = findObject(m, 'Deployment', 'percolate-gateway');
    const c = dep.spec.template.spec.containers[0];
    expect(imageBaseName(c.image)).toBe('gateway');
    expect(c.ports[0].containerPort).toBe(8082);
    expect(envOf(c, 'MAX_UPLOAD_BYTES').value).toBe('10485760');
    const svc = findObject(m, 'Service', 'percolate-gateway');
    expect(svc.spec.ports[0].port).toBe(8082);
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': 'percolate-gateway' });
    expect(dep.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('percolate-gateway');
  }));
});

describe('graceful termination', () => {
  it('every service pod outlives its unready grace plus drain timeout', each((m) => {
    for (const w of workloads(m)) {
      const budgetMs = Number(w.env.UNREADY_GRACE_MS ?? 0) + Number(w.env.DRAIN_TIMEOUT_MS);
      expect(Number.isFinite(budgetMs), w.name).toBe(true);
      expect(w.terminationGracePeriodSeconds * 1000, `${m.overlay} ${w.name}`).toBeGreaterThan(budgetMs);
    }
  }));

  it('database and gateway pods keep serving while failing /ready', each((m) => {
    for (const name of [...TIERS.map((t) => `percolate-db-${t}`), 'percolate-gateway']) {
      const w = workloads(m).find((x) => x.name === name);
      expect(Number(w?.env.UNREADY_GRACE_MS), `${m.overlay} ${name}`).toBeGreaterThan(0);
    }
  }));
});

describe('security contexts (T4.4)', () => {
  it('every pod runs as non-root user 10001 with the RuntimeDefault seccomp profile', each((m) => {
    for (const p of pods(m)) {
      expect(p.spec.securityContext, `${m.overlay} ${p.owner}`).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    }
  }));

  it('every container has a read-only root, no privilege, no escalation and no capabilities', each((m) => {
    for (const p of pods(m)) {
      for (const c of p.containers) {
        expect(c.securityContext, `${m.overlay} ${p.owner} ${c.name}`).toMatchObject({
          readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] },
        });
        expect(c.securityContext.capabilities.add ?? [], `${p.owner} ${c.name}`).toEqual([]);
      }
    }
  }));

  it('writable paths are emptyDirs or volume claims; config and secrets are mounted read-only', each((m) => {
    for (const o of m.objects) {
      const spec = podSpecOf(o);
      if (!spec) continue;
      const claims = new Set((o.spec.volumeClaimTemplates ?? []).map((t: Json) => t.metadata.name));
      for (const c of spec.containers) {
        for (const mount of c.volumeMounts ?? []) {
          const where = `${o.kind}/${o.metadata.name} ${c.name} ${mount.mountPath}`;
          const volume = (spec.volumes ?? []).find((v: Json) => v.name === mount.name);
          if (mount.readOnly) continue;
          expect(claims.has(mount.name) || volume?.emptyDir !== undefined || volume?.persistentVolumeClaim !== undefined, where).toBe(true);
        }
      }
    }
  }));

  it('every container requests and limits cpu and memory', each((m) => {
    for (const p of pods(m)) {
      for (const c of p.containers) {
        for (const key of ['requests', 'limits']) {
          expect(Object.keys(c.resources?.[key] ?? {}).sort(), `${m.overlay} ${p.owner} ${c.name} ${key}`).toEqual(['cpu', 'memory']);
        }
      }
    }
  }));

  it('no pod gets an API token unless it uses the API (Prometheus discovers pods)', each((m) => {
    for (const p of pods(m)) {
      expect(p.spec.automountServiceAccountToken, p.owner).toBe(p.owner === 'Deployment/prometheus');
    }
  }));
});

describe('images', () => {
  const baseDir = join(MANIFESTS_DIR, 'base');
  const yamlFiles = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(e.name) && !e.name.startsWith('kustomization') ? [path] : [];
  });
  const imagesIn = (value: unknown): string[] => {
    if (Array.isArray(value)) return value.flatMap(imagesIn);
    if (value && typeof value === 'object') {
      return Object.entries(value).flatMap(([k, v]) => (k === 'image' && typeof v === 'string' ? [v] : imagesIn(v)));
    }
    return [];
  };

  it('every rendered image is pinned to a tag or digest, never latest', each((m) => {
    for (const p of pods(m)) {
      for (const c of p.containers) {
        const image = String(c.image);
        const pinned = /@sha256:[0-9a-f]{64}$/.test(image) || /:[\w][\w.-]{0,127}$/.test(image.slice(image.lastIndexOf('/') + 1));
        expect(pinned, `${p.owner}: ${image}`).toBe(true);
        expect(image, p.owner).not.toMatch(/:latest(@|$)/);
      }
    }
    const repos = pods(m).flatMap((p) => p.containers.map((c) => String(c.image).split(/[:@]/)[0])).sort();
    expect([...new Set(repos)]).toEqual(['nats', 'percolate/db-node', 'percolate/gateway', 'percolate/worker', 'prom/prometheus']);
  }));

  it('tags are set in one place: the base kustomization, not the resource files', () => {
    const tagged = yamlFiles(baseDir).flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8'))
      .flatMap((d) => imagesIn(d.toJS()))
      .filter((image) => /[:@]/.test(image.slice(image.lastIndexOf('/') + 1)))
      .map((image) => `${relative(baseDir, file)}: ${image}`));
    expect(tagged).toEqual([]);
    const kustomization = parse(readFileSync(join(baseDir, 'kustomization.yaml'), 'utf8'));
    for (const entry of kustomization.images) {
      expect(entry.newTag ?? entry.digest, entry.name).toBeTruthy();
      expect(entry.newTag, entry.name).not.toBe('latest');
    }
  });
});

describe('autoscaling (KEDA)', () => {
  it.each(TIERS.map((t, i) => [t, 10 * (i + 1)] as const))('percolate-db-%s scales its StatefulSet on its own active tenants, 2 per pod, from zero to %d', (tier, max) => {
    for (const m of Object.values(rendered)) {
      const so = scaledObjects(m).find((s) => s.name === `percolate-db-${tier}`);
      expect(so).toMatchObject({ target: { kind: 'StatefulSet', name: `percolate-db-${tier}` }, minReplicaCount: 0, maxReplicaCount: max });
      expect(so?.triggers).toEqual([{ type: 'prometheus', query: `count(count by (tenant_id) (percolate_tenant_active{tier="${tier}"}))`, threshold: 2, activationThreshold: 0 }]);
      const raw = findObject(m, 'ScaledObject', `percolate-db-${tier}`).spec.triggers[0].metadata;
      expect(raw.serverAddress).toBe('http://prometheus.percolate.svc:9090');
      expect(raw.threshold).toBe('2');
    }
  });

  // Seed 002: "Max workers = tier limit (5/10/15)", one worker per 5 pending jobs.
  it.each(TIERS.map((t, i) => [t, 5 * (i + 1)] as const))('percolate-worker-%s scales its Deployment on its own consumer\'s lag, 5 per worker, from zero to %d', (tier, max) => {
    for (const m of Object.values(rendered)) {
      const so = scaledObjects(m).find((s) => s.name === `percolate-worker-${tier}`);
      expect(so).toMatchObject({ target: { kind: 'Deployment', name: `percolate-worker-${tier}` }, minReplicaCount: 0, maxReplicaCount: max });
      expect(so?.triggers).toEqual([{ type: 'nats-jetstream', stream: 'PERCOLATE_JOBS', consumer: jobsConsumer(tier), account: '$G', lagThreshold: 5, activationLagThreshold: 0 }]);
      const raw = findObject(m, 'ScaledObject', `percolate-worker-${tier}`).spec.triggers[0].metadata;
      expect(raw.natsServerMonitoringEndpoint).toBe('nats.percolate.svc:8222');
    }
  });

  it('every ScaledObject targets a workload that exists', each((m) => {
    for (const so of scaledObjects(m)) expect(() => findObject(m, so.target.kind, so.target.name), so.name).not.toThrow();
  }));
});

describe('time profiles: the overlays equal fixtures/time-profiles.yaml', () => {
  it.each(PROFILE_OVERLAYS)('%s: KEDA and HPA timings', (overlay) => {
    const profile = loadProfile(overlay);
    const all = scaledObjects(rendered[overlay]);
    expect(all.length).toBeGreaterThan(0);
    for (const so of all) {
      expect({ name: so.name, polling: so.pollingIntervalSeconds, cooldown: so.cooldownPeriodSeconds, stabilization: so.scaleDownStabilizationSeconds })
        .toEqual({ name: so.name, polling: profile.pollingIntervalSeconds, cooldown: profile.cooldownSeconds, stabilization: profile.scaleDownStabilizationSeconds });
    }
  });

  it.each(PROFILE_OVERLAYS)('%s: the services\' environment', (overlay) => {
    const profile = loadProfile(overlay);
    const byService = Object.fromEntries(workloads(rendered[overlay]).map((w) => [w.service, w.env]));
    const dbTiers = workloads(rendered[overlay]).filter((w) => w.service === 'db-node');
    expect(dbTiers.map((w) => w.name).sort()).toEqual(TIERS.map((t) => `percolate-db-${t}`).sort());
    for (const db of dbTiers) {
      expect(db.env, db.name).toMatchObject({
        PERCOLATE_PROFILE: overlay,
        ACTIVE_WINDOW_SECONDS: String(profile.activeWindowSeconds),
        COLD_OPEN_MS: String(profile.coldOpenMs),
        TENANT_CACHE_SIZE: String(profile.tenantCacheSize),
        DRAIN_TIMEOUT_MS: String(profile.drainTimeoutMs),
      });
    }
    expect(byService.worker).toMatchObject({
      PERCOLATE_PROFILE: overlay,
      PARSE_MS_MIN: String(profile.parseMs[0]),
      PARSE_MS_MAX: String(profile.parseMs[1]),
      DRAIN_TIMEOUT_MS: String(profile.drainTimeoutMs),
    });
    expect(byService.gateway).toMatchObject({ PERCOLATE_PROFILE: overlay, DRAIN_TIMEOUT_MS: String(profile.drainTimeoutMs) });
  });
});

describe('mesh (Istio)', () => {
  it.each(TIERS)('DestinationRule percolate-db-%s hashes its own tier\'s host on x-tenant-id, with locality LB, connection pool and outlier detection', (tier) => {
    for (const m of Object.values(rendered)) {
      expect(hashHeader(m, `percolate-db-${tier}`)).toBe('x-tenant-id');
      const dr = findObject(m, 'DestinationRule', `percolate-db-${tier}`);
      expect(dr.spec.host).toBe(`percolate-db-${tier}.percolate.svc.cluster.local`);
      expect(dr.spec.subsets, 'a host per tier: nothing for Istio to merge').toBeUndefined();
      expect(dr.spec.trafficPolicy.loadBalancer.localityLbSetting.enabled).toBe(true);
      expect(dr.spec.trafficPolicy.connectionPool.tcp.maxConnections).toBeGreaterThan(0);
      expect(dr.spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests).toBeGreaterThan(0);
      expect(dr.spec.trafficPolicy.outlierDetection.consecutive5xxErrors).toBeGreaterThan(0);
    }
  });

  it('every DestinationRule keeps 80 % of a zone\'s clients in their zone and sends 10 % to each other zone, in valid Istio localities', each((m) => {
    const zones = ['zone-a', 'zone-b', 'zone-c'];
    for (const tier of TIERS) {
      // Throws on what Istio's admission rejects: '*' not at the end, empty parts, percents not summing to 100.
      const rules = localityDistribution(m, `percolate-db-${tier}`);
      expect(rules.map((r) => r.from), tier).toEqual(zones.map((z) => `region-1/${z}/*`));
      for (const [i, rule] of rules.entries()) {
        expect(Object.fromEntries(rule.to), `${tier} from ${zones[i]}`).toEqual(Object.fromEntries(zones.map((z, j) => [`region-1/${z}/*`, i === j ? 80 : 10])));
      }
    }
    const broken = structuredClone(m);
    findObject(broken, 'DestinationRule', 'percolate-db-small').spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].from = '*/zone-a/*';
    expect(() => localityDistribution(broken, 'percolate-db-small')).toThrow(/wildcard '\*' may appear once, at the end/);
    findObject(broken, 'DestinationRule', 'percolate-db-small').spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0] = { from: 'region-1/zone-a/*', to: { 'region-1/zone-a/*': 90, 'region-1/zone-b/*': 20 } };
    expect(() => localityDistribution(broken, 'percolate-db-small')).toThrow(/sum to 110, not 100/);
  }));

  it('the VirtualServices send each tier to its own host, and an untiered caller inside the mesh to small', each((m) => {
    for (const name of ['percolate-db', 'percolate-ingress']) {
      const vs = findObject(m, 'VirtualService', name);
      for (const tier of TIERS) {
        const route = vs.spec.http.find((r: Json) => r.match?.some((x: Json) => x.headers?.['x-tenant-tier']?.exact === tier));
        expect(route?.route, `${name} ${tier}`).toEqual([
          expect.objectContaining({ destination: { host: `percolate-db-${tier}.percolate.svc.cluster.local`, port: { number: 8080 } } }),
        ]);
      }
    }
    const untiered = findObject(m, 'VirtualService', 'percolate-db').spec.http.at(-1);
    expect(untiered.match).toBeUndefined();
    expect(untiered.route[0].destination.host).toBe('percolate-db-small.percolate.svc.cluster.local');
    expect(findObject(m, 'VirtualService', 'percolate-ingress').spec.gateways).toEqual(['percolate-ingress']);
    expect(findObject(m, 'VirtualService', 'percolate-ingress').spec.http.filter((r: Json) => !r.match), 'no route for a token without a tier').toEqual([]);
  }));

  it('the ingress gateway turns the token\'s tier claim into x-tenant-tier and keeps the token', each((m) => {
    const ra = findObject(m, 'RequestAuthentication', 'percolate-tenant-tier');
    expect(ra.spec.selector.matchLabels).toEqual({ istio: 'ingressgateway' });
    expect(ra.spec.jwtRules[0].outputClaimToHeaders).toEqual([{ header: 'x-tenant-tier', claim: 'tier' }]);
    expect(ra.spec.jwtRules[0].forwardOriginalToken).toBe(true);
  }));
});

describe('network policies (T4.5)', () => {
  const flow = (from: PeerName, to: PeerName, port: number, protocol: Flow['protocol'] = 'TCP'): Flow => ({ from: PEERS[from], to: PEERS[to], port, protocol });

  it('a default deny covers ingress and egress of every pod', each((m) => {
    const deny = findObject(m, 'NetworkPolicy', 'default-deny-all');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  }));

  const allowed: Array<[PeerName, PeerName, number, Flow['protocol']?]> = [
    ['ingressGateway', 'db', 8080], ['ingressGateway', 'dbLarge', 8080], ['ingressGateway', 'gateway', 8082],
    ['worker', 'db', 8080], ['worker', 'dbLarge', 8080], ['prometheus', 'db', 8080], ['prometheus', 'dbLarge', 8080],
    ['db', 'nats', 4222], ['dbLarge', 'nats', 4222], ['worker', 'nats', 4222], ['gateway', 'nats', 4222],
    ['kedaOperator', 'prometheus', 9090], ['kedaOperator', 'nats', 8222],
    ['prometheus', 'apiServer', 6443], ['db', 'istiod', 15012], ['gateway', 'istiod', 15012],
    ['db', 'kubeDns', 53, 'UDP'], ['nats', 'kubeDns', 53, 'TCP'], ['prometheus', 'kubeDns', 53, 'UDP'],
  ];
  it.each(allowed)('allows %s -> %s:%d', (from, to, port, protocol) => {
    for (const o of PROFILE_OVERLAYS) expect(flowAllowed(rendered[o], flow(from, to, port, protocol)), o).toBe(true);
  });

  const denied: Array<[PeerName, PeerName, number]> = [
    ['gateway', 'db', 8080], ['db', 'db', 8080], ['db', 'dbLarge', 8080], ['gateway', 'dbLarge', 8080], ['db', 'prometheus', 9090], ['worker', 'prometheus', 9090],
    ['outsider', 'db', 8080], ['outsider', 'nats', 4222], ['kedaOperator', 'db', 8080], ['kedaOperator', 'nats', 4222],
    ['prometheus', 'nats', 4222], ['nats', 'db', 8080], ['db', 'internet', 443], ['worker', 'internet', 443],
    ['db', 'kubeDns', 8080], ['nats', 'istiod', 15012], ['ingressGateway', 'nats', 4222], ['ingressGateway', 'db', 9090],
  ];
  it.each(denied)('denies %s -> %s:%d', (from, to, port) => {
    for (const o of PROFILE_OVERLAYS) expect(flowAllowed(rendered[o], flow(from, to, port)), o).toBe(false);
  });
});

describe('disruption budgets', () => {
  it('each database tier loses at most one pod at a time; nats and the gateway have budgets', each((m) => {
    for (const tier of TIERS) {
      const db = findObject(m, 'PodDisruptionBudget', `percolate-db-${tier}`);
      expect(db.spec.maxUnavailable).toBe(1);
      expect(db.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'percolate-db', 'percolate.io/tier': tier });
    }
    for (const [name, kind] of [['nats', 'StatefulSet'], ['percolate-gateway', 'Deployment']] as const) {
      const pdb = findObject(m, 'PodDisruptionBudget', name);
      const labels = findObject(m, kind, name).spec.template.metadata.labels;
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) expect(labels[k], name).toBe(v);
    }
    const gateway = findObject(m, 'PodDisruptionBudget', 'percolate-gateway');
    expect(gateway.spec.minAvailable).toBeLessThan(findObject(m, 'Deployment', 'percolate-gateway').spec.replicas);
  }));
});

describe('NATS and Prometheus', () => {
  it('NATS runs JetStream on a persistent volume behind Service nats (4222, 8222)', each((m) => {
    const sts = findObject(m, 'StatefulSet', 'nats');
    const svc = findObject(m, 'Service', 'nats');
    expect(svc.spec.ports.map((p: Json) => p.port)).toEqual([4222, 8222]);
    const spec = sts.spec.template.spec;
    const configVolume = spec.volumes.find((v: Json) => v.configMap);
    const conf = String((findObject(m, 'ConfigMap', configVolume.configMap.name).data as Json)['nats.conf']);
    const storeDir = /store_dir:\s*(\S+)/.exec(conf)?.[1];
    expect(conf).toMatch(/jetstream\s*\{/);
    const dataMount = spec.containers[0].volumeMounts.find((v: Json) => v.name === 'data');
    expect(storeDir).toBe(dataMount.mountPath);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
  }));

  it('Prometheus discovers the database pods with its own namespaced RBAC', each((m) => {
    const dep = findObject(m, 'Deployment', 'prometheus');
    const spec = dep.spec.template.spec;
    expect(findObject(m, 'Service', 'prometheus').spec.ports[0].port).toBe(9090);
    const configVolume = spec.volumes.find((v: Json) => v.configMap);
    const config = parse(String((findObject(m, 'ConfigMap', configVolume.configMap.name).data as Json)['prometheus.yml']));
    const job = config.scrape_configs.find((j: Json) => j.job_name === 'percolate-db');
    expect(job.kubernetes_sd_configs[0]).toMatchObject({
      role: 'pod', namespaces: { names: ['percolate'] }, selectors: [{ role: 'pod', label: 'app.kubernetes.io/name=percolate-db' }],
    });
    const role = findObject(m, 'Role', 'prometheus-discovery');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const binding = findObject(m, 'RoleBinding', 'prometheus-discovery');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'prometheus-discovery' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: spec.serviceAccountName, namespace: 'percolate' }]);
  }));
});

describe('module API (cluster/manifests.ts)', () => {
  it('workloads() lists db-node, worker and gateway with the environment a runtime passes on', () => {
    const list = workloads(rendered.fast);
    expect(list.map((w) => [w.kind, w.name, w.service, w.containerPort]).sort()).toEqual([
      ['Deployment', 'percolate-gateway', 'gateway', 8082],
      ['Deployment', 'percolate-worker-large', 'worker', 8081],
      ['Deployment', 'percolate-worker-medium', 'worker', 8081],
      ['Deployment', 'percolate-worker-small', 'worker', 8081],
      ['StatefulSet', 'percolate-db-large', 'db-node', 8080],
      ['StatefulSet', 'percolate-db-medium', 'db-node', 8080],
      ['StatefulSet', 'percolate-db-small', 'db-node', 8080],
    ]);
    const db = list.find((w) => w.name === 'percolate-db-small');
    expect(db).toMatchObject({ labels: DB_POD_LABELS, replicas: 0, readinessPath: '/ready' });
    expect(db?.env).toMatchObject({ TIER: 'small', NATS_URL: 'nats://nats.percolate.svc:4222', COLD_OPEN_MS: '80' });
    for (const omitted of ['POD_NAME', 'NODE_NAME', 'ZONE', 'PERCOLATE_SECRETS_FILE', 'HOST', 'PORT']) {
      expect(Object.keys(db?.env ?? {}), omitted).not.toContain(omitted);
    }
  });

  it('scaledObjects() fills in KEDA\'s defaults for fields a manifest leaves out', () => {
    const m: RenderedManifests = {
      overlay: 'fast',
      objects: [{
        apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'bare' },
        spec: { scaleTargetRef: { name: 'x' }, triggers: [
          { type: 'prometheus', metadata: { query: 'q', threshold: '3' } },
          { type: 'nats-jetstream', metadata: { stream: 's', consumer: 'c' } },
        ] },
      }],
    };
    expect(scaledObjects(m)).toEqual([{
      name: 'bare', target: { kind: 'Deployment', name: 'x' }, minReplicaCount: 0, maxReplicaCount: 100,
      pollingIntervalSeconds: 30, cooldownPeriodSeconds: 300, scaleDownStabilizationSeconds: undefined, scaleUpStabilizationSeconds: undefined,
      triggers: [
        { type: 'prometheus', query: 'q', threshold: 3, activationThreshold: 0 },
        { type: 'nats-jetstream', stream: 's', consumer: 'c', account: '$G', lagThreshold: 10, activationLagThreshold: 0 },
      ],
    }]);
  });

  it('findObject() and hashHeader() name what is missing', () => {
    expect(() => findObject(rendered.fast, 'StatefulSet', 'percolate-db-huge')).toThrow(/StatefulSet "percolate-db-huge"/);
    const noHash: RenderedManifests = { overlay: 'fast', objects: [{ apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'plain' }, spec: { host: 'h' } }] };
    expect(() => hashHeader(noHash, 'plain')).toThrow(/DestinationRule\/plain does not hash on a header/);
  });

  it('renderOverlay() says how to install kubectl when it is missing', async () => {
    await expect(renderOverlay('fast', { kubectl: '/nonexistent/kubectl' })).rejects.toThrow(/not found.*install kubectl/);
  });
});
