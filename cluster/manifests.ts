/**
 * The manifests in `manifests/` are the single source of configuration (docs/design.md §2):
 * a cluster applies them, and the local runtime reads the same workloads,
 * ScaledObjects, DestinationRule and labels from them through this module.
 */
export type { K8sObject, ProfileOverlay, RenderedManifests, ScaledObjectSpec, ScaledObjectTrigger, WorkloadSpec } from './manifests/types.ts';
export { MANIFESTS_DIR, PROFILE_OVERLAYS, findObject, objectsOfKind, parseObjects, renderOverlay, type RenderOptions } from './manifests/render.ts';
export { imageBaseName, podSpecOf, workloads } from './manifests/workloads.ts';
export { KEDA_DEFAULTS, PAUSED_ANNOTATION, PAUSED_REPLICAS_ANNOTATION, pauseFromAnnotations, scaledObjects } from './manifests/scaling.ts';
export { checkLocality, hashHeader, localityDistribution, localityMatches, type LocalityDistribution } from './manifests/mesh.ts';
export { knownKinds, validateObjects } from './manifests/validate.ts';
export { flowAllowed, inCidr, selectorMatches, type AddressPeer, type Flow, type NetworkPeer, type PodPeer } from './manifests/network-policy.ts';
