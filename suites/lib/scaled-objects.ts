import { type ProfileOverlay, type ScaledObjectSpec, renderOverlay, scaledObjects } from '../../cluster/manifests.ts';

const rendered = new Map<ProfileOverlay, Promise<ScaledObjectSpec[]>>();

/**
 * A ScaledObject as the manifests of the profile's overlay declare it: the thresholds and
 * bounds a scaling spec sizes its load to (tenants per pod, max replicas), so no spec holds
 * a copy of them.
 */
export async function scaledObjectSpec(overlay: ProfileOverlay, name: string): Promise<ScaledObjectSpec> {
  let all = rendered.get(overlay);
  if (!all) rendered.set(overlay, (all = renderOverlay(overlay).then(scaledObjects)));
  const found = (await all).find((so) => so.name === name);
  if (!found) throw new Error(`no ScaledObject ${name} in the ${overlay} overlay`);
  return found;
}

/** The per-pod threshold of a ScaledObject's first trigger (AverageValue). */
export function perPodThreshold(so: ScaledObjectSpec): number {
  const [trigger] = so.triggers;
  if (!trigger) throw new Error(`${so.name} has no trigger`);
  return trigger.type === 'prometheus' ? trigger.threshold : trigger.lagThreshold;
}
