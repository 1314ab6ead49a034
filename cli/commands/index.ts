/**
 * The command modules of the stock CLI. Each exports `commands: CliCommand[]`. A module may be
 * absent in a custom build; the dispatcher skips modules that fail to resolve.
 */
import type { CliCommand } from '../command';

export const COMMAND_MODULES = ['kernel', 'images', 'containers', 'networks', 'volumes', 'build', 'compose', 'server'] as const;

export function loadCommands(): CliCommand[] {
  const out: CliCommand[] = [];
  for (const m of COMMAND_MODULES) {
    let mod: { commands?: CliCommand[] };
    try {
      mod = require(`./${m}`) as { commands?: CliCommand[] };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'MODULE_NOT_FOUND' && String(err.message).startsWith(`Cannot find module './${m}'`)) continue;
      throw e;
    }
    out.push(...(mod.commands ?? []));
  }
  return out;
}
