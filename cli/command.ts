/**
 * The one convention of every `percolate` command: a body run by `runWith` with its
 * context (the cluster attached on first use, output, Ctrl-C, the configuration of
 * lib/config.ts), returning an exit code of `EXIT`; errors mapped to exit codes in one
 * place (`exitCodeFor`); commander's parse errors made usage errors for the whole tree
 * (`withConventions`). Argument validators are in `args.ts`.
 */
import { type Command, CommanderError, InvalidArgumentError } from 'commander';
import { ControlApiError, type LocalClusterTarget, attachLocalCluster } from '../cluster/local/target/client.ts';
import { type ClusterTarget, NoClusterError } from '../cluster/target.ts';
import { attachTarget } from '../cluster/targets.ts';
import { ConfigError, type HarnessConfig, harnessConfig } from '../lib/config.ts';

/** The exit codes of every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and what it checked failed, or something went wrong on the way. */
  failed: 1,
  /** Bad arguments (the reason and the usage line) or a bad PERCOLATE_* value; a request the cluster refused as invalid. */
  usage: 2,
  /** No cluster to attach to: the message says how to start one. */
  noCluster: 3,
  /** Stopped by Ctrl-C (or SIGTERM), after printing what there was. */
  interrupted: 130,
} as const;

/** Bad arguments found after parsing, by a command's body or a helper it calls: exit 2 with the usage line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** What every command's body gets. */
export interface CommandContext {
  readonly cmd: Command;
  /** The environment's settings (lib/config.ts). */
  readonly config: HarnessConfig;
  /** `--state-dir`, else the configured one: where the local cluster is recorded. */
  readonly stateDir: string;
  /** The running cluster of the configured target (PERCOLATE_TARGET), attached on first use and let go at the end; never started. */
  target(): Promise<ClusterTarget>;
  /** The running local cluster of the state dir, whatever the target (the commands about the embedded cluster itself). */
  local(options?: { anyPhase?: boolean }): LocalClusterTarget;
  /** Bad arguments found after parsing: the reason and the usage, exit 2. */
  usage(reason: string): never;
  /** Aborted on Ctrl-C for a command run with `interrupt` (never otherwise). */
  readonly signal: AbortSignal;
  out(line: string): void;
  err(line: string): void;
}

/**
 * What Ctrl-C does while a command runs:
 * - `summary`: the first stops starting work (`signal`) and lets the body print what it has; a second exits at once;
 * - `teardown`: every one aborts `signal`, and the command only returns once what it had started is stopped (SIGHUP too);
 * - none: the default, the process ends.
 */
export type Interrupt = 'summary' | 'teardown';

function listenForInterrupt(kind: Interrupt | undefined, abort: AbortController): () => void {
  if (!kind) return () => {};
  const signals: NodeJS.Signals[] = kind === 'teardown' ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM'];
  let count = 0;
  const onSignal = () => {
    count += 1;
    if (kind === 'summary') {
      if (count > 1) process.exit(EXIT.interrupted);
      process.stderr.write('\ninterrupted: stopping, summary follows (Ctrl-C again to quit now)\n');
    } else {
      process.stderr.write(count === 1 ? '\ninterrupted: stopping everything it had started…\n' : 'still cleaning up; wait a moment so nothing is left behind\n');
    }
    abort.abort();
  };
  for (const s of signals) process.on(s, onSignal);
  return () => { for (const s of signals) process.off(s, onSignal); };
}

/**
 * A command's action: runs `body` with its context and sets the exit code from what it
 * returns (EXIT.ok when nothing), or from what it throws (`exitCodeFor`). The cluster is
 * attached lazily, so `--help` and bad arguments never need one, and always let go of.
 */
export function runWith<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<number | void>, options: { interrupt?: Interrupt } = {}) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const abort = new AbortController();
    const stopListening = listenForInterrupt(options.interrupt, abort);
    let target: Promise<ClusterTarget> | undefined;
    try {
      const config = harnessConfig();
      const stateDir = (cmd.optsWithGlobals() as { stateDir?: string }).stateDir ?? config.localStateDir;
      const ctx: CommandContext = {
        cmd, config, stateDir,
        target: () => (target ??= attachTarget({ ...config, stateDir })),
        local: (o) => attachLocalCluster(stateDir, o),
        usage: (reason) => { throw new UsageError(reason); },
        signal: abort.signal,
        out: (line) => { process.stdout.write(`${line}\n`); },
        err: (line) => { process.stderr.write(`${line}\n`); },
      };
      const code = await body(ctx, ...(args.slice(0, -1) as A));
      process.exitCode = abort.signal.aborted ? EXIT.interrupted : (code ?? EXIT.ok);
    } catch (err) {
      process.exitCode = exitCodeFor(err, cmd);
    } finally {
      stopListening();
      if (target) await (await target.catch(() => undefined))?.close();
    }
  };
}

/** Prints what went wrong (unless commander already has) and returns the exit code it means. */
export function exitCodeFor(err: unknown, cmd?: Command): number {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // A validator called from a body (commander turns the ones it calls itself into parse errors).
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    say(`error: ${err.message}`);
    if (cmd) say(usageLine(cmd));
    return EXIT.usage;
  }
  if (err instanceof CommanderError) return err.exitCode;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ConfigError) {
    for (const problem of message.split('\n')) say(`percolate: ${problem}`);
    return EXIT.usage;
  }
  say(`percolate: ${message}`);
  if (err instanceof NoClusterError) return EXIT.noCluster;
  // The control API refused the request (a bad resource, nothing selected: 4xx) or failed at it (5xx).
  if (err instanceof ControlApiError) return err.status >= 500 ? EXIT.failed : EXIT.usage;
  return EXIT.failed;
}

// Commander exits 1 on its own parse errors; the convention for bad arguments is 2.
const PARSE_ERRORS = new Set([
  'commander.invalidArgument', 'commander.missingArgument', 'commander.optionMissingArgument', 'commander.missingMandatoryOptionValue',
  'commander.unknownOption', 'commander.unknownCommand', 'commander.excessArguments', 'commander.conflictingOption',
]);

/**
 * Applies the convention to a whole command tree (call it once the tree is built): a parse
 * error prints commander's reason, then the usage line, and exits 2; a group run without
 * its command prints the help and exits 2; help itself exits 0. Nothing calls process.exit:
 * the errors reach `main`.
 */
export function withConventions(root: Command): Command {
  const visit = (cmd: Command) => {
    cmd.exitOverride((err: CommanderError) => {
      if (err.exitCode === 0) throw err;
      if (PARSE_ERRORS.has(err.code)) process.stderr.write(`${usageLine(cmd)}\n`);
      else if (err.code !== 'commander.help') throw err;
      throw new CommanderError(EXIT.usage, err.code, err.message);
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(root);
  return root;
}

export function usageLine(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return `usage: ${names.join(' ')} ${cmd.usage()}  (--help for every option)`;
}
