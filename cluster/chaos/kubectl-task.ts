import { UnsupportedOnLocal } from './selector.ts';
import type { TaskSpec } from './types.ts';
import { parseDuration } from './units.ts';

/**
 * What a Workflow Task's container does, when it is one of the `kubectl` node commands the
 * local target can run with the same meaning: `drain` (cordon, then evict the node's pods,
 * waiting where a PodDisruptionBudget forbids), `cordon` and `uncordon`. Nodes are named, or
 * picked by a node label selector (`-l`/`--selector`, equality terms only).
 */
export interface NodeCommand {
  verb: 'drain' | 'cordon' | 'uncordon';
  nodes?: string[];
  nodeSelector?: Record<string, string>;
  /** `drain --timeout`: how long the evictions may take. */
  timeoutMs?: number;
}

const VERBS = ['drain', 'cordon', 'uncordon'] as const;
/** Flags that change nothing the local runtime models (no DaemonSets, no emptyDir data). */
const NO_OP_FLAGS = new Set(['--ignore-daemonsets', '--delete-emptydir-data', '--delete-local-data']);

/**
 * The container's argv as a NodeCommand, or UnsupportedOnLocal saying why not. `--force`
 * (deleting unmanaged pods) and `--disable-eviction` (bypassing PodDisruptionBudgets) are
 * refused: both change what a drain promises.
 */
export function parseNodeCommand(task: TaskSpec, where: string): NodeCommand {
  const argv = [...(task.container.command ?? []), ...(task.container.args ?? [])];
  if (argv[0]?.split('/').pop() !== 'kubectl') {
    throw new UnsupportedOnLocal(`${where}: the local target runs Tasks whose container runs kubectl drain, cordon or uncordon; this one runs ${JSON.stringify(argv.join(' ') || '(the image\'s entrypoint)')}`);
  }
  const verb = argv[1] as NodeCommand['verb'];
  if (!VERBS.includes(verb)) throw new UnsupportedOnLocal(`${where}: kubectl ${argv[1] ?? ''} is not a node command the local target runs (${VERBS.join(', ')})`);
  const nodes: string[] = [];
  let nodeSelector: Record<string, string> | undefined;
  let timeoutMs: number | undefined;
  const rest = argv.slice(2);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? rest[++i];
      if (v === undefined) throw new UnsupportedOnLocal(`${where}: ${flag} needs a value`);
      return v;
    };
    if (flag === '-l' || flag === '--selector') nodeSelector = parseEqualitySelector(value(), where);
    else if (flag === '--timeout' && verb === 'drain') timeoutMs = taskDuration(value(), where);
    else if (NO_OP_FLAGS.has(flag) && verb === 'drain') continue;
    else if (flag.startsWith('-')) throw new UnsupportedOnLocal(`${where}: kubectl ${verb} ${flag} is not run by the local target`);
    else nodes.push(arg);
  }
  if (nodes.length && nodeSelector) throw new UnsupportedOnLocal(`${where}: kubectl ${verb} takes node names or a selector, not both`);
  if (!nodes.length && !nodeSelector) throw new UnsupportedOnLocal(`${where}: kubectl ${verb} names no node (give names or -l <label>=<value>)`);
  return { verb, ...(nodes.length ? { nodes } : {}), ...(nodeSelector ? { nodeSelector } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

function taskDuration(text: string, where: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UnsupportedOnLocal(`${where}: --timeout ${(err as Error).message}`);
  }
}

function parseEqualitySelector(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const term of text.split(',')) {
    const m = /^([^=!\s]+)==?([^=!\s]*)$/.exec(term.trim());
    if (!m) throw new UnsupportedOnLocal(`${where}: node selector term "${term}" is not key=value (the local target matches node labels by equality)`);
    out[m[1]!] = m[2]!;
  }
  return out;
}
