import { describe, expect, it } from 'vitest';
import { LocalClusterTarget } from '../../cluster/local/target/client.ts';
import type { LocalState } from '../../cluster/local/process/state.ts';
import { CAPABILITY_NAMES, type ClusterTarget, NotImplementedOnTarget, capabilityMissingReason, capabilityOf, mustHaveCapability } from '../../cluster/target.ts';

// A target of the core only: what a spec sees of a cluster that offers no extras.
const coreOnly: Pick<ClusterTarget, 'kind' | 'capability'> = { kind: 'kube' };

describe('ClusterTarget capabilities', () => {
  it('a target without the accessor has none of them, and says which is missing', () => {
    for (const name of CAPABILITY_NAMES) expect(capabilityOf(coreOnly, name)).toBeUndefined();
    expect(capabilityMissingReason(coreOnly, 'zones')).toBe("the kube target has no zone failure (capability 'zones')");
    expect(() => mustHaveCapability(coreOnly, 'chaos')).toThrow(NotImplementedOnTarget);
  });

  it('the local target offers every capability but raw store access and the k6-operator, each bound to the target', () => {
    const state = { control: { url: 'http://127.0.0.1:9', token: 't' }, daemon: { log: '' } } as unknown as LocalState;
    const local = new LocalClusterTarget(state, '/nonexistent', false);
    const offered = CAPABILITY_NAMES.filter((n) => capabilityOf(local, n));
    expect(offered).toEqual(['network', 'networkPolicies', 'nodes', 'zones', 'chaos', 'scalingHistory', 'issuerKeys']);
    expect(capabilityOf(local, 'chaos')?.engine).toBe('local-executor');
    expect(capabilityOf(local, 'scalingHistory')?.complete).toBe(true);
    expect(capabilityMissingReason(local, 'rawStore')).toMatch(/local target has no raw access/);
  });
});
