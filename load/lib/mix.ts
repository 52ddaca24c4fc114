/**
 * Seed 000's request mix — reads, writes, searches, chat — as plain request descriptions,
 * so that k6 (load/lib/k6.ts) and the suite's own generator send exactly the same
 * requests. Deterministic in the request index: two runs of a plan send the same sequence.
 */
import { FIXTURES } from './fixtures.generated.ts';
import type { Tenant } from './scenarios.ts';

export type Op = 'read' | 'write' | 'search' | 'chat';
export const OPS: readonly Op[] = ['read', 'write', 'search', 'chat'];

export interface LoadRequest {
  op: Op;
  method: 'GET' | 'POST';
  /** Path and query, relative to the load balancer. */
  path: string;
  body?: string;
}

/**
 * Words titles and contents are drawn from; a search or chat asks for one or two of them,
 * so each matches a small share of a tenant's records.
 */
const WORDS = (
  'alpha amber anchor arctic aspen atlas bamboo basalt beacon birch bison cactus canyon cedar cobalt comet coral ' +
  'cosmos crater delta dune ember falcon fern fjord flint forest garnet geyser glacier granite harbor hazel heron ' +
  'horizon iris island ivory jade jasper juniper kelp lagoon lantern lava lichen lotus lunar maple marble meadow ' +
  'mesa meteor mica mist moss nebula nectar oasis obsidian ocean onyx opal orbit orchid otter pebble pine plume ' +
  'polar prairie quartz quill raven reef ridge river sable saffron sage sequoia shale sierra slate solar spruce ' +
  'summit talon thistle tide timber topaz tundra umber valley velvet willow zephyr'
).split(' ');

/** A seeded resource per tenant, so reads have something to read from the first request on. */
export const seedResourceId = (tenantId: string) => `load-seed-${tenantId}`;

/** Mulberry32: a small, fast PRNG, the same in k6's JavaScript and in Node. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const weights = OPS.map((op) => FIXTURES.scenarios.mix[op]);
const totalWeight = weights.reduce((a, b) => a + b, 0);

export function opFor(r: number): Op {
  let x = r * totalWeight;
  for (let i = 0; i < OPS.length; i += 1) {
    x -= weights[i]!;
    if (x < 0) return OPS[i]!;
  }
  return OPS[OPS.length - 1]!;
}

/** A word with a number (`amber17`): 5,000 distinct tokens, so a term matches about 0.5 % of a tenant's records. */
const words = (rnd: () => number, n: number) => Array.from({ length: n }, () => `${WORDS[Math.floor(rnd() * WORDS.length)]!}${Math.floor(rnd() * 50)}`).join(' ');

/** The seeded resource of a tenant: what `read` requests ask for. */
export function seedRequest(tenant: Tenant): LoadRequest {
  return {
    op: 'write', method: 'POST', path: '/api/v1/resources',
    body: JSON.stringify({ id: seedResourceId(tenant.id), title: `seed ${tenant.id}`, content: 'the resource every read of the load scenarios asks for', tags: ['load'] }),
  };
}

/** Request `i` of a run (the tenant is chosen by the caller). `runTag` marks what a run wrote. */
export function requestFor(i: number, tenant: Tenant, runTag: string): LoadRequest {
  const rnd = mulberry32(i * 2654435761);
  const op = opFor(rnd());
  switch (op) {
    case 'read':
      return { op, method: 'GET', path: `/api/v1/resources/${seedResourceId(tenant.id)}` };
    case 'write':
      return {
        op, method: 'POST', path: '/api/v1/resources',
        body: JSON.stringify({ title: `${words(rnd, 3)} ${runTag}`, content: words(rnd, 24), tags: [runTag] }),
      };
    case 'search':
      return { op, method: 'GET', path: `/api/v1/resources?limit=10&query=${encodeURIComponent(words(rnd, 2))}` };
    case 'chat':
      return { op, method: 'POST', path: '/api/v1/chat', body: JSON.stringify({ message: `what do I have about ${words(rnd, 2)}?` }) };
  }
}

/** The tenant of request `i`: round robin, so every tenant is active all through the run. */
export const tenantFor = (i: number, tenants: readonly Tenant[]): Tenant => tenants[i % tenants.length]!;
