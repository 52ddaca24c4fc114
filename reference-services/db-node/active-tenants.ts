/** Last request time per tenant; a tenant is active while its last request is inside the window. */
export class ActiveTenants {
  private readonly lastSeen = new Map<string, { at: number; tier: string }>();

  constructor(private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  touch(tenantId: string, tier: string): void {
    this.lastSeen.set(tenantId, { at: this.now(), tier });
  }

  /** The tenants inside the window, with their tiers, forgetting the others. */
  active(): Array<{ tenantId: string; tier: string }> {
    const cutoff = this.now() - this.windowMs;
    const out: Array<{ tenantId: string; tier: string }> = [];
    for (const [tenantId, { at, tier }] of this.lastSeen) {
      if (at < cutoff) this.lastSeen.delete(tenantId);
      else out.push({ tenantId, tier });
    }
    return out;
  }

  /** Counts by tier of the tenants inside the window. */
  countByTier(tiers: readonly string[]): Record<string, number> {
    const counts = Object.fromEntries(tiers.map((t) => [t, 0]));
    for (const { tier } of this.active()) counts[tier] = (counts[tier] ?? 0) + 1;
    return counts;
  }
}
