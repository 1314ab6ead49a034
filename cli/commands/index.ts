/**
 * The command modules of the stock CLI. Each exports `commands: CliCommand[]` and keeps its heavy
 * imports inside `run`, so loading all of them to find one stays cheap. The requires are
 * static so that the bundled CLI (cli/bundle.js) contains every module; a custom build lists
 * its own modules here.
 */
import type { CliCommand } from '../command';

export function loadCommands(): CliCommand[] {
  return [
    ...(require('./kernel') as typeof import('./kernel')).commands,
    ...(require('./images') as typeof import('./images')).commands,
    ...(require('./containers') as typeof import('./containers')).commands,
    ...(require('./serve') as typeof import('./serve')).commands,
  ];
}
