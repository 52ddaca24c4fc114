import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// Every experiment of a Chaos Mesh kind must be a resource Chaos Mesh's own CRD schema accepts.
const root = fileURLToPath(new URL('../../', import.meta.url));
const crds = JSON.parse(readFileSync(`${root}cluster/chaos/crd/chaos-mesh-schemas.json`, 'utf8')) as { kinds: Record<string, { group: string; version: string; schema: object }> };
// Kubernetes structural schemas carry x-kubernetes-* extensions that ajv does not know.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const validators = Object.fromEntries(Object.entries(crds.kinds).map(([kind, crd]) => [kind, { ...crd, validate: ajv.compile(crd.schema) }]));
const files = readdirSync(`${root}chaos`).filter((f) => f.endsWith('.yaml'));

describe('chaos/ against Chaos Mesh CRD schemas', () => {
  it.each(files.filter((f) => parse(readFileSync(`${root}chaos/${f}`, 'utf8')).apiVersion?.startsWith('chaos-mesh.org/')))('%s is accepted by its CRD', (file) => {
    const resource = parse(readFileSync(`${root}chaos/${file}`, 'utf8'));
    const crd = validators[resource.kind];
    expect(crd, `no CRD schema for kind ${resource.kind}`).toBeDefined();
    expect(resource.apiVersion).toBe(`${crd!.group}/${crd!.version}`);
    const ok = crd!.validate(resource);
    expect(ok, JSON.stringify(crd!.validate.errors, null, 1)).toBe(true);
  });

  it('the schemas reject what Chaos Mesh would reject', () => {
    const bad = { apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'PodChaos', metadata: { name: 'x' }, spec: { action: 'pod-explode', mode: 'one', selector: {} } };
    expect(validators.PodChaos!.validate(bad)).toBe(false);
    const noMode = { apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'NetworkChaos', metadata: { name: 'x' }, spec: { action: 'delay', selector: {} } };
    expect(validators.NetworkChaos!.validate(noMode)).toBe(false);
  });
});
