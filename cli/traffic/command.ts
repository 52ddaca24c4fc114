import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { ClusterTarget } from '../../cluster/target.ts';
import { TENANT_ID_PATTERN } from '../../reference-services/shared/tenant-id.ts';
import { NoClusterError, openCliTarget } from './target.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, noCluster: 3, interrupted: 130 } as const;

/** What every traffic command gets: its cluster (opened on first use), output, and Ctrl-C. */
export interface CommandContext {
  readonly cmd: Command;
  target(): Promise<ClusterTarget>;
  /** Bad arguments found after parsing: the reason and the usage, exit code 2. */
  usage(reason: string): never;
  /** Aborted on the first Ctrl-C (or SIGTERM): stop starting work, print what there is. */
  readonly signal: AbortSignal;
  out(line: string): void;
  err(line: string): void;
}

// Commander exits 1 on its own parse errors; the CLI's convention for bad arguments is 2.
const PARSE_ERRORS = new Set([
  'commander.invalidArgument', 'commander.missingArgument', 'commander.optionMissingArgument', 'commander.missingMandatoryOptionValue',
  'commander.unknownOption', 'commander.excessArguments', 'commander.conflictingOption', 'commander.usage',
]);

/** A subcommand of `parent` whose usage errors (commander's own and `ctx.usage`) print the usage line and exit 2. */
export function subcommand(parent: Command, name: string): Command {
  const sub = parent.command(name);
  // The usage line is built here, not up front: only now is the command's whole parent chain known.
  return sub.exitOverride((err: CommanderError) => {
    if (!PARSE_ERRORS.has(err.code)) throw err;
    process.stderr.write(`${usageLine(sub)}\n`);
    throw err.exitCode === EXIT.usage ? err : new CommanderError(EXIT.usage, err.code, err.message);
  });
}

/**
 * Runs a command's body with its context. The target is opened lazily (so `--help` and bad
 * arguments never need a cluster) and always let go of; the first Ctrl-C aborts `signal`
 * and leaves the body to finish and summarise, a second one exits at once.
 */
export function runWith<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const stateDir = (cmd.optsWithGlobals() as { stateDir?: string }).stateDir;
    const abort = new AbortController();
    let signals = 0;
    const onSignal = () => {
      signals += 1;
      if (signals === 1) { process.stderr.write('\ninterrupted: stopping, summary follows (Ctrl-C again to quit now)\n'); abort.abort(); }
      else process.exit(EXIT.interrupted);
    };
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
    let target: Promise<ClusterTarget> | undefined;
    const ctx: CommandContext = {
      cmd,
      target: () => (target ??= openCliTarget(stateDir)),
      usage: (reason) => cmd.error(`error: ${reason}`, { exitCode: EXIT.usage, code: 'commander.usage' }),
      signal: abort.signal,
      out: (line) => { process.stdout.write(`${line}\n`); },
      err: (line) => { process.stderr.write(`${line}\n`); },
    };
    try {
      const code = await body(ctx, ...(args.slice(0, -1) as A));
      process.exitCode = abort.signal.aborted ? EXIT.interrupted : (code ?? EXIT.ok);
    } catch (err) {
      if (!(err instanceof NoClusterError)) throw err;
      process.stderr.write(`percolate: ${err.message}\n`);
      process.exitCode = EXIT.noCluster;
    } finally {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, onSignal);
      if (target) await (await target.catch(() => undefined))?.close();
    }
  };
}

export function usageLine(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return `usage: ${names.join(' ')} ${cmd.usage()}  (--help for every option)`;
}

// ---- argument parsers (commander calls them; a throw becomes a usage error) -----------

export function number(what: string, min: number, max: number, { integer = false, exclusiveMin = false } = {}) {
  return (raw: string): number => {
    const n = Number(raw);
    const low = exclusiveMin ? n > min : n >= min;
    if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || !low || n > max) {
      throw new InvalidArgumentError(`${what} must be ${integer ? 'an integer' : 'a number'} ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and at most' : 'to'} ${max}`);
    }
    return n;
  };
}

export const seconds = (what: string, max: number) => number(`${what} (seconds)`, 0, max, { exclusiveMin: true });
export const count = (what: string, min: number, max: number) => number(what, min, max, { integer: true });

export function tenantId(raw: string): string {
  if (!TENANT_ID_PATTERN.test(raw)) throw new InvalidArgumentError(`a tenant id must match ${TENANT_ID_PATTERN.source}`);
  return raw;
}
