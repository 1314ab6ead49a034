/**
 * What a CLI command is. Each file under cli/commands/ exports `commands: CliCommand[]`; the
 * dispatcher (cli/main.ts) matches argv against their names and aliases (longest match first:
 * `image ls` before `image`), parses flags with the command's spec, boots the engine with just
 * the plugin types the command needs, runs it and maps errors to exit codes as Docker does.
 *
 * Rule for command modules: import heavy modules lazily inside `run` (with `require`), so that
 * loading every command module to find one stays cheap — `berth run` is on a latency budget.
 */
import type { CommandSpec, GlobalOptions, Parsed } from './kit/args';
import type { Engine } from '../core/engine';

export interface CliIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

export interface CliContext extends CliIO {
  globals: GlobalOptions;
  /**
   * Opens (once) the engine, booting the plugin types this command declared. With an engine
   * host (`-H`, BERTH_HOST) it rejects with ERR_REMOTE_NOT_SERVED: a command without a `remote`
   * run never falls back to a local engine behind the user's back.
   */
  engine(): Promise<Engine>;
  /** The client of the engine at `-H`/BERTH_HOST; only defined when one was given. */
  remote?: import('./remote').EngineClient;
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr. */
  err(line: string): void;
}

export interface CliCommand {
  spec: CommandSpec;
  /** Plugin types to boot; undefined boots every plugin. */
  plugins?: string[];
  /**
   * Uses only the configured storage driver and isolation backend (create, run): their other
   * plugins are not booted when the configured ones come up (Engine.open `preferConfigured`).
   */
  configuredOnly?: boolean;
  /** Engine errors exit 125 instead of 1 (run, create, start, exec). */
  runLike?: boolean;
  /** Hidden from the command list in `berth --help`. */
  hidden?: boolean;
  /** Returns the exit code (default 0). */
  run(ctx: CliContext, p: Parsed): Promise<number | void>;
  /**
   * The same command against the engine at `-H`/BERTH_HOST (`ctx.remote`), through the Docker
   * Engine API, printing what `run` prints. Commands without it fail there with
   * ERR_REMOTE_NOT_SERVED as soon as they need the engine.
   */
  remote?(ctx: CliContext, p: Parsed): Promise<number | void>;
  /** Runs an engine itself (`serve`): BERTH_HOST is ignored and `-H` before it is refused. */
  hostsEngine?: boolean;
}
