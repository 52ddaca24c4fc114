import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** No Docker (or other container engine) to run k3s in: the message says how to get one. */
export class ContainerRuntimeMissing extends Error {
  override name = 'ContainerRuntimeMissing';
}

export const RUNTIME_MISSING_LINE =
  'PERCOLATE_TARGET=k3s needs a container runtime, and none answers here: install Docker Engine (https://docs.docker.com/engine/install/) ' +
  'or start Docker Desktop / Podman (then DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock), check with `docker info`, ' +
  'or run on the embedded cluster with PERCOLATE_TARGET=local';

/** The sockets testcontainers looks for when DOCKER_HOST and ~/.testcontainers.properties say nothing. */
export function wellKnownSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const run = env.XDG_RUNTIME_DIR;
  return [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    ...(run ? [join(run, 'docker.sock'), join(run, 'podman', 'podman.sock')] : []),
    '/run/podman/podman.sock',
  ];
}

function answers(socket: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Fails within seconds when no container engine answers. The cheap test comes first: with
 * no DOCKER_HOST, no testcontainers configuration and no socket that accepts a connection,
 * there is nothing for testcontainers to find, and importing it (seconds on a busy
 * machine) is not needed to say so. Otherwise testcontainers decides.
 */
export async function assertContainerRuntime(env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): Promise<void> {
  const configured = !!env.DOCKER_HOST || existsSync(join(homedir(), '.testcontainers.properties'));
  if (!configured) {
    const sockets = wellKnownSockets(env).filter((s) => existsSync(s));
    const live = await Promise.all(sockets.map((s) => answers(s, 2_000)));
    if (!live.some(Boolean)) {
      throw new ContainerRuntimeMissing(`${RUNTIME_MISSING_LINE} (no DOCKER_HOST, ${sockets.length ? `nothing listens on ${sockets.join(', ')}` : `no socket at ${wellKnownSockets(env).join(', ')}`})`);
    }
  }
  const { getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
  } catch (err) {
    throw new ContainerRuntimeMissing(`${RUNTIME_MISSING_LINE} (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    clearTimeout(timer);
  }
}
