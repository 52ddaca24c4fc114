import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureSecretsFile } from '../../reference-services/shared/secrets.ts';
import { REPO_ROOT } from '../../lib/repo.ts';
import { serviceImages } from '../images/images.ts';
import { renderOverlay } from '../manifests.ts';
import type { ProfileOverlay } from '../manifests/types.ts';
import type { ClusterEndpoints } from '../target.ts';
import { applyObjects, waitForCheck } from '../kube/apply.ts';
import { type InstallStep, describePlan, installPlan, loadVersions } from './plan.ts';
import { assertContainerRuntime } from './runtime.ts';

function run(bin: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 }, (err, _out, stderr) => {
      if (!err) return resolve();
      reject(new Error(`${what} failed: ${(stderr || err.message).trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

export interface StartedK3s {
  kubeconfig: string;
  endpoints: ClusterEndpoints;
  /** Stops and removes the container (and with it everything installed in it). */
  stop(): Promise<void>;
}

export interface StartK3sOptions {
  profile: ProfileOverlay;
  log?: (line: string) => void;
}

/**
 * Starts k3s in a container and carries out the install plan (plan.ts): images built with
 * the docker CLI and imported into k3s's containerd, charts through k3s's helm-controller,
 * then the overlay, each step waited for within its bound. On any failure the container
 * is removed before the error is thrown.
 */
export async function startK3s(options: StartK3sOptions): Promise<StartedK3s> {
  const log = options.log ?? (() => {});
  await assertContainerRuntime();
  const { K3sContainer } = await import('@testcontainers/k3s');
  const versions = loadVersions();
  const secretsFile = ensureSecretsFile(join(REPO_ROOT, '.percolate', 'k3s', 'secrets.json'));
  const plan = installPlan({
    versions, profile: options.profile, images: serviceImages(),
    manifests: (await renderOverlay(options.profile)).objects, secretsJson: readFileSync(secretsFile, 'utf8'),
  });
  for (const line of describePlan(plan)) log(`plan ${line}`);

  const start = plan[0] as Extract<InstallStep, { kind: 'start-k3s' }>;
  const container = await new K3sContainer(start.image).withCommand(start.args).withExposedPorts(...start.exposedPorts.filter((p) => p !== 6443)).start();
  const stop = async () => { await container.stop({ remove: true, removeVolumes: true }); };
  try {
    const kc = new KubeConfig();
    kc.loadFromString(container.getKubeConfig());
    const work = mkdtempSync(join(tmpdir(), 'percolate-k3s-images-'));
    try {
      for (const step of plan.slice(1)) {
        const t0 = Date.now();
        if (step.kind === 'import-images') {
          for (const image of step.images) {
            const tar = join(work, `${image.ref.replace(/[/:]/g, '_')}.tar`);
            await run('docker', ['build', '-f', image.dockerfile, '-t', image.ref, '.'], `docker build ${image.ref}`);
            await run('docker', ['save', '-o', tar, image.ref], `docker save ${image.ref}`);
            await container.copyFilesToContainer([{ source: tar, target: `/tmp/${image.ref.replace(/[/:]/g, "_")}.tar` }]);
            const res = await container.exec(['ctr', '--namespace', 'k8s.io', 'images', 'import', `/tmp/${image.ref.replace(/[/:]/g, "_")}.tar`]);
            if (res.exitCode !== 0) throw new Error(`ctr images import ${image.ref}: ${res.output.trim()}`);
          }
        } else if (step.kind === 'helm-chart') {
          await applyObjects(kc, [step.object]);
        } else if (step.kind === 'apply') {
          await applyObjects(kc, step.objects);
        } else if (step.kind === 'wait') {
          await waitForCheck(kc, step.what, step.check, step.timeoutSeconds);
        }
        log(`done ${step.kind}${'what' in step ? ` ${step.what}` : 'name' in step ? ` ${step.name}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const host = container.getHost();
    const url = (port: number, scheme = 'http') => `${scheme}://${host}:${container.getMappedPort(port)}`;
    const np = versions.nodePorts;
    return {
      kubeconfig: container.getKubeConfig(),
      endpoints: {
        loadBalancerUrl: url(np.loadBalancer),
        // One node, one zone: the per-zone entries of T3.3 need agents in other zones.
        zonalLoadBalancerUrls: {},
        gatewayUrl: url(np.gateway),
        natsUrl: url(np.nats, 'nats'),
        natsMonitoringUrl: url(np.natsMonitoring),
        prometheusUrl: url(np.prometheus),
        extra: {},
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
