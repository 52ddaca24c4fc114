import { parseCpuQuantity, parseMemoryQuantity } from '../../chaos/units.ts';
import type { CgroupLimits } from './cgroups.ts';

/** A container's `resources.limits` from the manifests as cgroup limits; undefined without any. */
export function containerLimits(limits: { cpu?: unknown; memory?: unknown } | undefined, where: string): CgroupLimits | undefined {
  if (!limits || (limits.cpu === undefined && limits.memory === undefined)) return undefined;
  try {
    return {
      ...(limits.cpu === undefined ? {} : { cpuMillis: parseCpuQuantity(String(limits.cpu)) }),
      ...(limits.memory === undefined ? {} : { memoryBytes: parseMemoryQuantity(String(limits.memory)) }),
    };
  } catch (err) {
    throw new Error(`${where}: resources.limits: ${(err as Error).message}`, { cause: err });
  }
}
