import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface TimeProfile {
  name: ProfileName;
  activeWindowSeconds: number;
  coldOpenMs: number;
  tenantCacheSize: number;
  parseMs: [number, number];
  pollingIntervalSeconds: number;
  cooldownSeconds: number;
  scaleDownStabilizationSeconds: number;
  drainTimeoutMs: number;
  podReadySeconds: number;
  metricDelaySeconds: number;
  oscillationPeriodSeconds: number;
  flappingWindowSeconds: number;
}

export const PROFILE_NAMES = ['fast', 'realistic'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

const PROFILES_FILE = fileURLToPath(new URL('../../fixtures/time-profiles.yaml', import.meta.url));

export function loadProfile(name: string = process.env.PERCOLATE_PROFILE ?? 'fast'): TimeProfile {
  if (!(PROFILE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown time profile "${name}": expected one of ${PROFILE_NAMES.join(', ')}`);
  }
  const all = parse(readFileSync(PROFILES_FILE, 'utf8')) as Record<string, Omit<TimeProfile, 'name'>>;
  const profile = all[name];
  if (!profile) throw new Error(`time profile "${name}" is missing from ${PROFILES_FILE}`);
  return { name: name as ProfileName, ...profile };
}
