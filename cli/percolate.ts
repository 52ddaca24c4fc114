/**
 * `percolate` — the command line of the test suite. `test-topology` drives the embedded
 * local cluster (up, status, token, scale, down).
 */
import { Command, CommanderError } from 'commander';
import { ControlApiError } from '../cluster/local/target/client.ts';
import { UsageError, testTopologyCommand } from './test-topology.ts';

export function program(): Command {
  return new Command('percolate')
    .description('Percolate cluster test suite')
    .showHelpAfterError()
    .exitOverride()
    .addCommand(testTopologyCommand());
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof UsageError) { process.stderr.write(`percolate: ${e.message}\n`); return 2; }
    if (e instanceof ControlApiError) { process.stderr.write(`percolate: ${e.message}\n`); return e.status >= 500 ? 1 : 2; }
    process.stderr.write(`percolate: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main();
