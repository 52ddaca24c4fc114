/**
 * The harness's environment, read once. Every PERCOLATE_* variable the suite, the CLI, the
 * bench and the load tools take from the environment is read here, checked, and passed on
 * as values: Playwright's options and metadata (`playwright.config.ts`), function
 * arguments, the CLI's defaults. Nothing else on the harness side reads them.
 *
 * Not here: the reference services read their own environment (they run as containers),
 * and the local cluster's daemon gets its settings from the launcher (its config, and the
 * environment `up` is given for it). Tests may still set these variables for the processes
 * they start.
 */
import { join } from 'node:path';
import { PROFILE_NAMES, type ProfileName } from '../reference-services/shared/profile.ts';
import { REPO_ROOT } from './repo.ts';
import { NAMESPACE } from './names.ts';

export const TARGET_KINDS = ['local', 'k3s', 'kube'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** Where the kube target's services are reached from this machine (a cluster decides this, so it is configured). */
export const KUBE_ENDPOINT_VARS = {
  loadBalancerUrl: 'PERCOLATE_LB_URL',
  gatewayUrl: 'PERCOLATE_GATEWAY_URL',
  natsUrl: 'PERCOLATE_NATS_URL',
  natsMonitoringUrl: 'PERCOLATE_NATS_MONITORING_URL',
  prometheusUrl: 'PERCOLATE_PROMETHEUS_URL',
} as const;
export type KubeEndpointName = keyof typeof KUBE_ENDPOINT_VARS;

export interface KubeConfigValues {
  /** PERCOLATE_NAMESPACE (default `percolate`). */
  namespace: string;
  /** The endpoint URLs that are set; the kube target says which are missing when it is chosen. */
  endpoints: Partial<Record<KubeEndpointName, string>>;
}

export interface HarnessConfig {
  /** PERCOLATE_TARGET: `local` (default) | `k3s` | `kube`. */
  target: TargetKind;
  /** PERCOLATE_PROFILE: the time profile, `fast` (default) | `realistic`. */
  profile: ProfileName;
  /** PERCOLATE_LOCAL_STATE_DIR: where the running local cluster is recorded (default `.percolate/local`). */
  localStateDir: string;
  kube: KubeConfigValues;
  /** PERCOLATE_SECRETS_FILE, for scripts/token.ts (unset: `.percolate/secrets.json`). */
  secretsFile: string | undefined;
  /** PERCOLATE_T5_FAULT: a chaos/ file applied for the whole of each T5 test. */
  t5Fault: string | undefined;
  /** PERCOLATE_REPORT_CHECK: check the run report in Chromium (default on; `0` turns it off). */
  reportCheck: boolean;
  /** PERCOLATE_<NAME>_BIN by variable name: a component's binary instead of the one on PATH (`binaryFor`). */
  binaries: Readonly<Record<string, string>>;
}

/** A PERCOLATE_* value that is not one of the valid ones: the message names them. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function oneOf<T extends string>(valid: readonly T[], value: string, source: string): T {
  if (!(valid as readonly string[]).includes(value)) throw new ConfigError(`${source} must be one of ${valid.join(', ')}, got "${value}"`);
  return value as T;
}

/** A target name, checked (`source` names where it came from, for the message). */
export const parseTarget = (value: string, source = 'PERCOLATE_TARGET'): TargetKind => oneOf(TARGET_KINDS, value, source);
/** A time profile name, checked. */
export const parseProfile = (value: string, source = 'PERCOLATE_PROFILE'): ProfileName => oneOf(PROFILE_NAMES, value, source);

/**
 * The configuration an environment describes (pure: tests pass their own). Every bad value
 * is reported at once, one line each. An empty variable counts as unset.
 */
export function readConfig(env: NodeJS.ProcessEnv): HarnessConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const checked = <T>(fallback: T, parse: () => T): T => {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
      return fallback;
    }
  };

  const target = checked<TargetKind>('local', () => parseTarget(get('PERCOLATE_TARGET') ?? 'local'));
  const profile = checked<ProfileName>('fast', () => parseProfile(get('PERCOLATE_PROFILE') ?? 'fast'));
  const endpoints: Partial<Record<KubeEndpointName, string>> = {};
  for (const [key, name] of Object.entries(KUBE_ENDPOINT_VARS) as Array<[KubeEndpointName, string]>) {
    const value = get(name);
    if (value === undefined) continue;
    if (URL.canParse(value) && new URL(value).host) endpoints[key] = value;
    else problems.push(`${name} must be a URL (e.g. http://127.0.0.1:8080), got "${value}"`);
  }
  const check = get('PERCOLATE_REPORT_CHECK') ?? '1';
  const reportCheck = checked(true, () => oneOf(['0', '1', 'false', 'true'], check, 'PERCOLATE_REPORT_CHECK') === '1' || check === 'true');

  const binaries = Object.fromEntries(Object.keys(env).filter((name) => /^PERCOLATE_[A-Z0-9_]+_BIN$/.test(name) && get(name) !== undefined).map((name) => [name, env[name]!]));

  if (problems.length) throw new ConfigError(problems.join('\n'));
  return {
    target,
    profile,
    localStateDir: get('PERCOLATE_LOCAL_STATE_DIR') ?? join(REPO_ROOT, '.percolate', 'local'),
    kube: { namespace: get('PERCOLATE_NAMESPACE') ?? NAMESPACE, endpoints },
    secretsFile: get('PERCOLATE_SECRETS_FILE'),
    t5Fault: get('PERCOLATE_T5_FAULT'),
    reportCheck,
    binaries,
  };
}

/** The binary to run for a component: PERCOLATE_<NAME>_BIN (e.g. PERCOLATE_NATS_SERVER_BIN for nats-server), else `name` on PATH. */
export function binaryFor(name: string, config: Pick<HarnessConfig, 'binaries'> = harnessConfig()): string {
  return config.binaries[`PERCOLATE_${name.toUpperCase().replace(/-/g, '_')}_BIN`] ?? name;
}

let current: HarnessConfig | undefined;

/** This process's configuration: its environment, read and checked on first use. */
export function harnessConfig(): HarnessConfig {
  current ??= readConfig(process.env);
  return current;
}

/** What a run is: the target it runs on and its time profile. */
export interface RunChoice {
  target: TargetKind;
  profile: ProfileName;
}

/**
 * A run's target and profile as recorded elsewhere (Playwright's `metadata`, which
 * playwright.config.ts fills from this module), checked; what is not recorded comes from
 * this process's configuration.
 */
export function runChoiceOf(recorded: { target?: unknown; profile?: unknown } | undefined): RunChoice {
  return {
    target: recorded?.target === undefined ? harnessConfig().target : parseTarget(String(recorded.target), 'the run\'s metadata.target'),
    profile: recorded?.profile === undefined ? harnessConfig().profile : parseProfile(String(recorded.profile), 'the run\'s metadata.profile'),
  };
}
