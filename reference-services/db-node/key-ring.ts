import { KvWatchInclude, type KV } from '@nats-io/kv';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.ts';
import type { Secrets } from '../shared/secrets.ts';
import { currentAudit } from './audit-context.ts';
import { newDataKey, open, seal } from './envelope.ts';

/** What the KV bucket holds for a tenant: every data key version, wrapped by a master key. */
interface WrappedKeyRecord {
  current: number;
  versions: Record<string, { wrapped: string; masterKeyVersion: number; createdAt: string }>;
}

/** A tenant's unwrapped data keys, held only while the tenant is open. */
export interface TenantKeys {
  tenantId: string;
  /** KV revision the keys were read at: a watcher event at or below it is old news. */
  revision: number;
  current: number;
  keys: Map<number, Buffer>;
}

const wrapAad = (tenantId: string, version: number) => `percolate-dek:${tenantId}:v${version}`;

/**
 * Per-tenant data keys (envelope encryption). Wrapped keys live in a replicated KV
 * bucket so every node can open every tenant; the master keys (the KMS stand-in) never
 * leave the process. Each unwrap is an audit line.
 */
export class KeyRing {
  /** Counted where the audit line is written: the T4.3 check holds lines against this. */
  private readonly unwraps?: Counter<'tenant_id' | 'outcome'>;
  private readonly denials?: Counter<'tenant_id' | 'action'>;

  constructor(
    private readonly kv: KV,
    private readonly secrets: Secrets,
    private readonly audit: Logger,
    registry?: Registry,
  ) {
    if (registry) {
      this.unwraps = new Counter({ name: 'percolate_key_unwraps_total', help: 'Tenant data key unwraps (each has one audit line)', labelNames: ['tenant_id', 'outcome'], registers: [registry] });
      this.denials = new Counter({ name: 'percolate_key_denials_total', help: 'Refused key accesses (each has one audit line)', labelNames: ['tenant_id', 'action'], registers: [registry] });
    }
  }

  /** A refused key access: one audit line naming who asked for whose keys, and why not. */
  denied(tenantId: string, action: string, principal: string, reason: string, status: number): void {
    const ctx = currentAudit();
    this.denials?.inc({ tenant_id: tenantId, action });
    this.audit.warn({ audit: 'key.denied', tenant: tenantId, action, principal, reason, status, requestId: ctx?.requestId ?? 'none' }, 'tenant key access refused');
  }

  /** Loads (creating on first use) and unwraps every key version of a tenant. */
  async unwrapAll(tenantId: string, caller: string): Promise<TenantKeys> {
    const { record, revision } = await this.loadOrCreate(tenantId);
    const keys = new Map<number, Buffer>();
    for (const [version, entry] of Object.entries(record.versions)) {
      keys.set(Number(version), this.unwrap(tenantId, Number(version), entry, caller));
    }
    return { tenantId, revision, current: record.current, keys };
  }

  /** Adds a key version and re-wraps every version under the current master key. */
  async rotate(tenantId: string, caller: string): Promise<{ keyVersion: number; versions: number[]; revision: number }> {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const entry = await this.kv.get(tenantId);
      const record = entry?.value.length ? (entry.json() as WrappedKeyRecord) : undefined;
      if (!record || !entry) {
        await this.loadOrCreate(tenantId);
        continue;
      }
      const next: WrappedKeyRecord = { current: record.current + 1, versions: {} };
      for (const [version, wrapped] of Object.entries(record.versions)) {
        const key = this.unwrap(tenantId, Number(version), wrapped, caller);
        next.versions[version] = this.wrap(tenantId, Number(version), key);
      }
      next.versions[String(next.current)] = this.wrap(tenantId, next.current, newDataKey());
      try {
        const revision = await this.kv.update(tenantId, JSON.stringify(next), entry.revision);
        return { keyVersion: next.current, versions: Object.keys(next.versions).map(Number), revision };
      } catch {
        // Another node rotated at the same time: read again and retry on top of its version.
      }
    }
    throw new Error(`key rotation for ${tenantId} kept conflicting`);
  }

  async versions(tenantId: string): Promise<{ current: number; versions: Array<{ version: number; masterKeyVersion: number; createdAt: string }> } | undefined> {
    const entry = await this.kv.get(tenantId);
    if (!entry?.value.length) return undefined;
    const record = entry.json() as WrappedKeyRecord;
    return {
      current: record.current,
      versions: Object.entries(record.versions).map(([v, e]) => ({ version: Number(v), masterKeyVersion: e.masterKeyVersion, createdAt: e.createdAt })),
    };
  }

  /** Calls back whenever any node changes a tenant's keys, with the new KV revision. */
  async watch(onChange: (tenantId: string, revision: number) => void): Promise<void> {
    const watcher = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly, headers_only: true });
    void (async () => {
      for await (const entry of watcher) onChange(entry.key, entry.revision);
    })();
  }

  private async loadOrCreate(tenantId: string): Promise<{ record: WrappedKeyRecord; revision: number }> {
    const existing = await this.kv.get(tenantId);
    if (existing?.value.length) return { record: existing.json() as WrappedKeyRecord, revision: existing.revision };
    const record: WrappedKeyRecord = { current: 1, versions: { '1': this.wrap(tenantId, 1, newDataKey()) } };
    try {
      return { record, revision: await this.kv.create(tenantId, JSON.stringify(record)) };
    } catch {
      // Another node created it first: theirs is the key.
      const entry = await this.kv.get(tenantId);
      if (!entry?.value.length) throw new Error(`tenant key for ${tenantId} could not be created or read`);
      return { record: entry.json() as WrappedKeyRecord, revision: entry.revision };
    }
  }

  private wrap(tenantId: string, version: number, key: Buffer) {
    const masterKeyVersion = this.secrets.currentMasterKeyVersion;
    const master = this.secrets.masterKeys.get(masterKeyVersion)!;
    return { wrapped: seal(master, key, wrapAad(tenantId, version)).toString('base64'), masterKeyVersion, createdAt: new Date().toISOString() };
  }

  private unwrap(tenantId: string, version: number, entry: { wrapped: string; masterKeyVersion: number }, caller: string): Buffer {
    const master = this.secrets.masterKeys.get(entry.masterKeyVersion);
    const outcome = master ? 'granted' : 'denied';
    const ctx = currentAudit();
    this.unwraps?.inc({ tenant_id: tenantId, outcome });
    this.audit.info({
      audit: 'key.unwrap', tenant: tenantId, keyVersion: version, masterKeyVersion: entry.masterKeyVersion, caller,
      requestId: ctx?.requestId ?? `internal:${caller}`, principal: ctx?.principal ?? 'db-node', outcome,
    }, 'tenant data key accessed');
    if (!master) throw new Error(`master key version ${entry.masterKeyVersion} is not available`);
    return open(master, Buffer.from(entry.wrapped, 'base64'), wrapAad(tenantId, version));
  }
}
