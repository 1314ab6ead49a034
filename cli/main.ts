/**
 * The berth CLI entry point: global flags, command dispatch, error → exit code mapping.
 */
import { mark } from '../core/trace';
import type { CliCommand, CliContext } from './command';
import type { Engine } from '../core/engine';
import { BerthError, cliExitCodeOf, describeError, ERR_USAGE } from '../core/errors';

function findCommand(commands: CliCommand[], argv: string[]): { cmd: CliCommand; rest: string[] } | undefined {
  // Longest name first: `image ls` must win over `image`.
  let best: { cmd: CliCommand; rest: string[]; words: number } | undefined;
  for (const cmd of commands) {
    for (const name of [cmd.spec.name, ...(cmd.spec.aliases ?? [])]) {
      const words = name.split(' ');
      if (words.length > argv.length) continue;
      if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.words)) {
        best = { cmd, rest: argv.slice(words.length), words: words.length };
      }
    }
  }
  return best && { cmd: best.cmd, rest: best.rest };
}

function topHelp(commands: CliCommand[]): string {
  const { renderHelp, GLOBAL_SPEC } = require('./kit/args') as typeof import('./kit/args');
  const visible = commands.filter((c) => !c.hidden);
  const width = Math.max(...visible.map((c) => c.spec.name.length)) + 2;
  const lines = visible
    .map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.description}`)
    .sort();
  return `${renderHelp(GLOBAL_SPEC).trimEnd()}\n\nCommands:\n${lines.join('\n')}\n\nRun 'berth COMMAND --help' for more information on a command.\n`;
}

/** Like Docker's CLI killed by SIGPIPE: a closed stdout (`berth ps | head -1`) ends quietly. */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/**
 * The client of the engine named by `-H` or BERTH_HOST, or undefined to run the engine here.
 * `--root`/`--config` describe a local engine and make no sense next to `-H`; a command that
 * runs an engine itself (`serve`) ignores BERTH_HOST and refuses `-H` before it.
 */
function engineClient(cmd: CliCommand, globals: import('./kit/args').GlobalOptions): import('./remote').EngineClient | undefined {
  if (cmd.hostsEngine) {
    if (globals.host !== undefined) throw ERR_USAGE(`berth: -H/--host selects an engine to talk to; \`berth ${cmd.spec.name}\` runs one (give its own -H after the command)`);
    return undefined;
  }
  const host = globals.host ?? (process.env.BERTH_HOST || undefined);
  if (host === undefined) return undefined;
  if (globals.root !== undefined || globals.config !== undefined) {
    throw ERR_USAGE(`berth: --root and --config configure an engine run here; the engine at ${host} keeps its own state and configuration`);
  }
  const { EngineClient, parseEngineAddress } = require('./remote') as typeof import('./remote');
  return new EngineClient(parseEngineAddress(host));
}

export async function main(argv: string[], io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  mark('cli: main');
  if (io.stdout === process.stdout) quietOnClosedPipe(process.stdout);
  const { parseGlobal, parseArgs, renderHelp } = require('./kit/args') as typeof import('./kit/args');
  const { loadCommands } = require('./commands') as typeof import('./commands');
  let runLike = false;
  let engine: Engine | undefined;
  try {
    const { globals, rest } = parseGlobal(argv);
    const commands = loadCommands();
    mark('cli: commands loaded');
    if (globals.version && rest.length === 0) {
      const { VERSION } = require('../core/version') as typeof import('../core/version');
      io.stdout.write(`berth version ${VERSION}\n`);
      return 0;
    }
    if (rest.length === 0 || (globals.help && rest.length === 0)) {
      (rest.length === 0 && !globals.help ? io.stderr : io.stdout).write(topHelp(commands));
      return globals.help ? 0 : 0;
    }
    const found = findCommand(commands, rest);
    if (!found) {
      // `berth image` alone, or a typo.
      const group = commands.filter((c) => c.spec.name.startsWith(`${rest[0]} `));
      if (group.length) {
        io.stdout.write(`Usage:  berth ${rest[0]} COMMAND\n\nCommands:\n${group.map((c) => `  ${c.spec.name.split(' ')[1]!.padEnd(12)}${c.spec.description}`).join('\n')}\n`);
        return rest.length === 1 ? 0 : 125;
      }
      throw ERR_USAGE(`berth: '${rest[0]}' is not a berth command.\nSee 'berth --help'`);
    }
    const { cmd } = found;
    runLike = cmd.runLike ?? false;
    const parsed = parseArgs(cmd.spec, found.rest);
    mark('cli: args parsed');
    if (parsed.help) {
      io.stdout.write(renderHelp(cmd.spec));
      return 0;
    }
    for (const w of parsed.warnings ?? []) io.stderr.write(`${w}\n`);
    const remote = engineClient(cmd, globals);
    let opening: Promise<Engine> | undefined;
    const ctx: CliContext = {
      ...io,
      globals,
      out: (line) => void io.stdout.write(`${line}\n`),
      err: (line) => void io.stderr.write(`${line}\n`),
      ...(remote ? { remote } : {}),
      engine: () => {
        if (remote) {
          const { ERR_REMOTE_NOT_SERVED } = require('./remote') as typeof import('./remote');
          return Promise.reject(ERR_REMOTE_NOT_SERVED(cmd.spec.name));
        }
        opening ??= (async () => {
          const { Engine } = require('../core/engine') as typeof import('../core/engine');
          const { builtins } = require('../plugins/builtins') as typeof import('../plugins/builtins');
          mark('cli: engine modules loaded');
          const level = globals.debug ? 'debug' : (globals.logLevel as 'debug' | 'info' | 'warn' | 'error' | undefined);
          engine = await Engine.open({
            registrations: builtins,
            ...(globals.root !== undefined ? { root: globals.root } : {}),
            ...(globals.config !== undefined ? { configFile: globals.config } : {}),
            ...(level ? { logLevel: level === ('fatal' as string) ? 'error' : level } : {}),
            ...(cmd.plugins ? { onlyTypes: cmd.plugins } : {}),
            ...(cmd.configuredOnly ? { preferConfigured: true } : {}),
          });
          mark('cli: engine open');
          return engine;
        })();
        return opening;
      },
    };
    const code = remote && cmd.remote ? await cmd.remote(ctx, parsed) : await cmd.run(ctx, parsed);
    mark('cli: command done');
    return code ?? 0;
  } catch (err) {
    const debug = argv.includes('-D') || argv.includes('--debug');
    if (err instanceof BerthError && err.code === ERR_USAGE.code) {
      io.stderr.write(`${err.message}\n`);
      const hint = err.details?.hint;
      if (typeof hint === 'string' && !err.message.includes(hint)) io.stderr.write(`${hint}\n`);
    } else {
      io.stderr.write(`Error: ${describeError(err)}\n`);
    }
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return cliExitCodeOf(err, runLike);
  } finally {
    if (engine) await engine.close().catch(() => undefined);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`fatal: ${String(err)}\n`);
      process.exitCode = 125;
    },
  );
}
