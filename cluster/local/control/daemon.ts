/**
 * The local cluster's daemon: a detached process (its own process group) that owns every
 * process of the cluster, so `percolate test-topology up` can return while the cluster
 * keeps running. Started by the launcher with its configuration in PERCOLATE_DAEMON_CONFIG
 * and an IPC channel for progress; after "ready" the launcher lets go and the daemon lives
 * on until `down` (control API), a signal, or the launcher vanishing during start-up.
 */
import { appendFileSync } from 'node:fs';
import { LocalAutoscaling } from './autoscaling.ts';
import { startControlServer } from './control-api.ts';
import { isSameProcess, processIdentity } from '../process/proc-identity.ts';
import { logDir } from '../process/paths.ts';
import { ComponentError, LocalRuntime, type RuntimeConfig } from '../runtime.ts';
import { removeState, writeOwner } from '../process/state.ts';

/** Messages to the launcher over IPC. */
export type DaemonMessage =
  | { type: 'progress'; step: string; ms: number; detail?: string }
  | { type: 'ready'; ms: number }
  | { type: 'failed'; component: string; log: string; message: string };

const config = JSON.parse(process.env.PERCOLATE_DAEMON_CONFIG ?? 'null') as RuntimeConfig | null;
if (!config) {
  process.stderr.write('daemon: PERCOLATE_DAEMON_CONFIG is missing; start the cluster with `percolate test-topology up`\n');
  process.exit(2);
}

/** Resolves once the message is handed to the channel, so an exit right after cannot lose it. */
const send = (msg: DaemonMessage) => new Promise<void>((resolve) => {
  if (!process.connected || !process.send) { resolve(); return; }
  process.send(msg, undefined, {}, () => resolve());
});
const runtime = new LocalRuntime(config);
let ready = false;
let exiting = false;
let exited: Promise<string | undefined> | undefined;

/** Shuts down once; every later caller (a second signal, the owner check) waits for that shutdown. */
function exit(code: number, keepLogs = false): Promise<string | undefined> {
  exited ??= shutdown(code, keepLogs);
  return exited;
}

async function shutdown(code: number, keepLogs: boolean): Promise<string | undefined> {
  exiting = true;
  runtime.log(`shutting down (${code === 0 ? 'requested' : 'after a failure'})`);
  // First, so that no decision scales a workload while the runtime takes it down.
  await runtime.autoscaling?.stop().catch((err: unknown) => runtime.log('autoscaler stop failed', err));
  const kept = await runtime.shutdown({ keepLogs });
  await control?.close().catch(() => undefined);
  removeState(config!.stateDir);
  return kept;
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => void exit(0).then(() => process.exit(0)));
}
// The launcher went away before the cluster was ready (killed, Ctrl-C): nobody will use it.
process.on('disconnect', () => { if (!ready) void exit(0).then(() => process.exit(0)); });
process.on('uncaughtException', (err) => {
  try { appendFileSync(`${logDir(config.runDir)}/daemon.log`, `uncaught: ${err.stack}\n`); } catch { /* best effort */ }
  void exit(1).then(() => process.exit(1));
});

// A cluster started for one run ends with it, even if the run was SIGKILLed.
const OWNER_CHECK_MS = 1_000;
if (config.owner) {
  const { pid, identity } = config.owner;
  const ownerCheck = setInterval(() => {
    if (isSameProcess(pid, identity)) return;
    clearInterval(ownerCheck);
    runtime.log(`the run that owns this cluster (pid ${pid}) is gone: shutting down`);
    void exit(0).then(() => process.exit(0));
  }, OWNER_CHECK_MS).unref();
}

writeOwner(config.runDir, { daemonPid: process.pid, identity: processIdentity(process.pid) ?? '', stateDir: config.stateDir });
const started = performance.now();
const control = await startControlServer(runtime, () => void exit(0).then(() => process.exit(0)));
runtime.control = { url: control.url, token: control.token, port: control.port };
runtime.saveState(true);

try {
  await runtime.start((e) => { runtime.log(`step ${e.step} done in ${e.ms} ms ${e.detail ?? ''}`); void send({ type: 'progress', ...e }); });
  // KEDA owns the replicas from here on; its first decision is not awaited.
  if (!exiting) runtime.autoscaling = LocalAutoscaling.start(runtime);
  // The launcher reads the state file as soon as it hears "ready": it must be written by then
  // (the runtime's own write is deferred, and with every workload at 0 nothing else writes it).
  runtime.saveState(true);
  ready = true;
  runtime.log(`ready in ${Math.round(performance.now() - started)} ms`);
  await send({ type: 'ready', ms: Math.round(performance.now() - started) });
  if (process.connected) process.disconnect();
} catch (err) {
  if (!exiting) {
    runtime.log('start-up failed', err);
    const failure = err instanceof ComponentError
      ? { component: err.component, log: err.log, message: err.message }
      : { component: 'daemon', log: `${logDir(config.runDir)}/daemon.log`, message: err instanceof Error ? err.message : String(err) };
    const kept = await exit(1, true);
    // The run dir is gone: point at the copy of its logs.
    const log = kept ? failure.log.replace(logDir(config.runDir), kept) : failure.log;
    await send({ type: 'failed', ...failure, log });
    process.exit(1);
  }
}
