import type { Command } from 'commander';
import { registerAffinityCommand } from './affinity-command.ts';
import { registerJobCommands } from './jobs-commands.ts';
import { registerObserveCommand } from './observe-command.ts';
import { registerReplicationCommand } from './replication-command.ts';
import { registerSimulateCommands } from './simulate-commands.ts';

/**
 * Seed 000's traffic and observation commands under `test-topology`: they reach the cluster
 * only through the ClusterTarget (endpoints, tokens, pods, workloads), so they work on any target.
 */
export function registerTrafficCommands(testTopology: Command): void {
  registerSimulateCommands(testTopology);
  registerJobCommands(testTopology);
  registerAffinityCommand(testTopology);
  registerReplicationCommand(testTopology);
  registerObserveCommand(testTopology);
}
