import type { Command } from 'commander';
import { type IssuerKeys, mustHaveCapability } from '../cluster/target.ts';
import { type CommandContext, runWith } from './command.ts';

function describe(keys: IssuerKeys): string {
  return keys.kids.map((kid) => `${kid}${kid === keys.current ? '  (signs)' : ''}`).join('\n');
}

/**
 * `test-topology issuer keys|rotate|retire`: the token issuer's keys of the running cluster.
 * A rotation publishes the new key to the edge and the pods before it signs; a key is
 * retired once the tokens it signed have expired (their lifetime is an hour).
 */
export function registerIssuerCommands(testTopology: Command): void {
  const issuerOf = async (ctx: CommandContext) => mustHaveCapability(await ctx.target(), 'issuerKeys');
  const issuer = testTopology.command('issuer').description('list, rotate and retire the token issuer\'s keys of the running cluster');

  issuer.command('keys')
    .description('the key ids of the JWKS, and the one that signs')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, o: { json?: boolean }) => {
      const keys = await (await issuerOf(ctx)).issuerKeys();
      ctx.out(o.json ? JSON.stringify(keys, null, 2) : describe(keys));
    }));

  issuer.command('rotate')
    .description('a new key joins the JWKS (the edge reloads, the pods read it), then signs; the old keys still verify until retired')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, o: { json?: boolean }) => {
      const keys = await (await issuerOf(ctx)).rotateIssuerKey();
      ctx.out(o.json ? JSON.stringify(keys, null, 2) : `rotated: ${keys.current} signs now\n${describe(keys)}`);
    }));

  issuer.command('retire')
    .description('remove a key from the JWKS: the tokens it signed are refused at the edge and by the pods')
    .argument('<kid>', 'a key id of `issuer keys` (not the one that signs)')
    .option('--json', 'machine-readable output')
    .action(runWith(async (ctx, kid: string, o: { json?: boolean }) => {
      const keys = await (await issuerOf(ctx)).retireIssuerKey(kid);
      ctx.out(o.json ? JSON.stringify(keys, null, 2) : `retired ${kid}\n${describe(keys)}`);
    }));
}
