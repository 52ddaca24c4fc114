/**
 * `percolate` — the command line of the test suite. `test-topology` drives the embedded
 * local cluster (up, status, token, scale, down) and, on any target, traffic, chaos and
 * autoscaling. Every command follows cli/command.ts: exit codes of `EXIT`, validators of
 * cli/args.ts, settings from lib/config.ts.
 */
import { Command } from 'commander';
import { EXIT, exitCodeFor, withConventions } from './command.ts';
import { testTopologyCommand } from './test-topology.ts';

export function program(): Command {
  return withConventions(new Command('percolate')
    .description('Percolate cluster test suite')
    .addCommand(testTopologyCommand()));
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    return exitCodeFor(e);
  }
}

process.exitCode = await main();
