/**
 * Docker-style argument parsing for every berth command.
 *
 * Vocabulary
 * - *flag*: a named option of a command, declared by a `FlagSpec`. It has a long name (`--publish`),
 *   optionally a one-letter shorthand (`-p`), and one of four types:
 *   - `bool`: present means true; a value may be attached with `=` (`--rm=false`, `-d=false`) but
 *     never taken from the next argument (`--rm false` leaves `false` as a positional), as pflag's
 *     `NoOptDefVal` does;
 *   - `string`: takes exactly one value, the last occurrence wins;
 *   - `number`: like `string`, validated as a decimal number (`10`, `-1`, `1.5`);
 *   - `list`: repeatable (`-p a -p b`), every value kept in command-line order. Values are never
 *     split on commas: Docker's `opts.ListOpts` (`-e`, `-p`, `-v`, `--add-host` …) does not split,
 *     unlike pflag's `StringSlice`.
 * - *positional*: any argument that is not a flag or a flag's value. A lone `-` is a positional
 *   (stdin, as in `docker build -`).
 * - *interspersed*: whether flags may follow positionals. True by default (`docker rm ID -f`
 *   works). `run`, `create` and `exec` set it to false: the first positional ends option parsing,
 *   so in `berth run --rm img ls -la` the `-la` belongs to the container's command.
 * - *cluster*: several shorthands in one argument (`-itd`). Each letter is a flag; the first letter
 *   whose flag takes a value consumes the rest of the cluster as the value (`-p8080:80`,
 *   `-itp8080:80`), or, when it is the last letter, the next argument (`-itp 8080:80`). A `=` right
 *   after a shorthand is stripped (`-e=FOO=bar` gives `FOO=bar`, `-d=false` sets d to false).
 *
 * These are exactly the rules of github.com/spf13/pflag (used by Docker through cobra), including
 * its error messages, so that scripts and muscle memory carry over:
 *   unknown flag: --foo
 *   unknown shorthand flag: 'x' in -x
 *   flag needs an argument: --name          flag needs an argument: 'p' in -p
 *   invalid argument "abc" for "-t, --time" flag: strconv.ParseFloat: parsing "abc": invalid syntax
 *   bad flag syntax: ---x
 * Every such error is an `ERR_USAGE` (code ERR_CLI_USAGE, exit code 125). Its message is pflag's
 * message alone; Docker prints `See 'docker run --help'.` under it, and the same hint is put in
 * `details.hint` for the dispatcher to print.
 *
 * Help: every command implicitly has a `--help` bool flag with shorthand `-h` (unless the command
 * declares its own `-h`, as `run -h HOSTNAME` does: then only `--help` exists, as in cobra). It is
 * recognised anywhere option parsing still runs, sets `Parsed.help`, and suppresses the positional
 * count check, so `berth rm --help` prints help and exits 0 instead of complaining about missing
 * arguments. It is never shown in the Options table (Docker hides it too).
 *
 * Lifecycle
 *   const spec: CommandSpec = { name: 'rm', usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]',
 *     description: 'Remove one or more containers', args: { min: 1 },
 *     flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal' }] };
 *   const p = parseArgs(spec, ['-f', 'web']);     // throws ERR_USAGE on bad input
 *   if (p.help) { out.write(renderHelp(spec)); return 0; }
 *   p.bool('force') === true; p.args → ['web']
 *
 * Accessors (`bool`, `str`, `num`, `list`) return the value given on the command line, else the
 * spec's default, else false / undefined / undefined / []. Asking for a flag the spec does not
 * declare, or with the accessor of another type, is a programming error and throws a plain Error:
 * a typo in a command's implementation fails its tests loudly instead of silently reading nothing.
 */
import { ERR_USAGE } from '../../core/errors';

export type FlagType = 'bool' | 'string' | 'number' | 'list';

export interface FlagSpec {
  /** Long name without dashes: `publish`. */
  name: string;
  /** One-letter shorthand without dash: `p`. */
  short?: string;
  type: FlagType;
  /** Value when the flag is not given. Shown in help as `(default …)` when not the zero value. */
  default?: boolean | string | number | string[];
  /** One line for the Options table. */
  description: string;
  /** Name of the value in help (`--publish list` by default; `--workdir DIR` with 'DIR'). */
  valueName?: string;
  /** Accepted but not shown in help. */
  hidden?: boolean;
  /**
   * Accepted, not shown in help, and using it adds `Flag --NAME has been deprecated, MESSAGE` to
   * `Parsed.warnings` (pflag prints the same line to stderr).
   */
  deprecated?: string;
}

export interface CommandSpec {
  /** Command path without the binary name: 'run', or 'image ls'. */
  name: string;
  /**
   * Other command paths (without the binary name) reaching the same command, shown in help as
   * `Aliases:` like Docker does: for 'container ls', `['container list', 'container ps', 'ps']`.
   */
  aliases?: string[];
  /** Full usage line: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]'. */
  usage: string;
  /** One line; the first line of help after Usage and in `requires at least` errors. */
  description: string;
  flags: FlagSpec[];
  /** Default true. False for run/create/exec: the first positional ends option parsing. */
  interspersed?: boolean;
  /** Positional count check, skipped when help is requested. */
  args?: { min?: number; max?: number };
}

export interface Parsed {
  /** Positionals in order, plus everything after `--` (or after the first positional when not interspersed). */
  args: string[];
  /** `--help` / `-h` was given: print `renderHelp(spec)` and exit 0. */
  help: boolean;
  bool(name: string): boolean;
  str(name: string): string | undefined;
  num(name: string): number | undefined;
  list(name: string): string[];
  /** The flag was given explicitly on the command line (even with its default value). */
  has(name: string): boolean;
  /** Deprecation notices for deprecated flags that were used, one line each, for stderr. */
  warnings?: string[];
}

/** The binary name used in help and usage errors. */
export const BIN_NAME = 'berth';

const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', description: 'Print usage', hidden: true };

interface CompiledSpec {
  byName: Map<string, FlagSpec>;
  byShort: Map<string, FlagSpec>;
}

const compiledCache = new WeakMap<CommandSpec, CompiledSpec>();

/**
 * Indexes a spec's flags by long name and shorthand, adding the implicit help flag, and rejects
 * malformed specs (duplicate names or shorthands, multi-letter shorthands, dashes in names,
 * defaults of the wrong type). These are programming errors, so they throw a plain Error.
 */
function compile(spec: CommandSpec): CompiledSpec {
  const cached = compiledCache.get(spec);
  if (cached) return cached;
  const byName = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const f of spec.flags) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f.name)) throw new Error(`command ${spec.name}: bad flag name ${JSON.stringify(f.name)}`);
    if (byName.has(f.name) || f.name === 'help') throw new Error(`command ${spec.name}: flag --${f.name} declared twice`);
    byName.set(f.name, f);
    if (f.short !== undefined) {
      if (f.short.length !== 1 || f.short === '-' || f.short === '=') throw new Error(`command ${spec.name}: bad shorthand ${JSON.stringify(f.short)} for --${f.name}`);
      if (byShort.has(f.short)) throw new Error(`command ${spec.name}: shorthand -${f.short} declared twice`);
      byShort.set(f.short, f);
    }
    if (f.default !== undefined && !defaultFits(f)) throw new Error(`command ${spec.name}: default of --${f.name} does not fit type ${f.type}`);
  }
  byName.set('help', HELP_FLAG);
  // cobra gives help the shorthand h only when the command does not use it (run -h HOSTNAME).
  if (!byShort.has('h')) byShort.set('h', HELP_FLAG);
  const compiled = { byName, byShort };
  compiledCache.set(spec, compiled);
  return compiled;
}

function defaultFits(f: FlagSpec): boolean {
  switch (f.type) {
    case 'bool':
      return typeof f.default === 'boolean';
    case 'string':
      return typeof f.default === 'string';
    case 'number':
      return typeof f.default === 'number';
    case 'list':
      return Array.isArray(f.default) && f.default.every((v) => typeof v === 'string');
  }
}

/** pflag's flag label in value errors: `"-t, --time"` or `"--rm"`. */
function flagLabel(f: FlagSpec): string {
  return f.short !== undefined ? `-${f.short}, --${f.name}` : `--${f.name}`;
}

/** Go's strconv.ParseBool. */
function parseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a decimal number strictly (no hex, no spaces, no empty string, no Infinity). */
function parseNumber(value: string): number | undefined {
  if (!NUMBER_RE.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** `berth rm`, or `berth` for the root command (empty name). */
function commandPath(spec: CommandSpec): string {
  return spec.name === '' ? BIN_NAME : `${BIN_NAME} ${spec.name}`;
}

function usageHint(spec: CommandSpec): string {
  return `See '${commandPath(spec)} --help'.`;
}

function usageError(spec: CommandSpec, message: string) {
  return ERR_USAGE.with({ details: { command: commandPath(spec), hint: usageHint(spec) } }, message);
}

/** Mutable state of one parse. */
interface State {
  bools: Map<string, boolean>;
  strings: Map<string, string>;
  numbers: Map<string, number>;
  lists: Map<string, string[]>;
  given: Set<string>;
  warnings: string[];
}

/** Stores one value for a flag, validating it against the flag's type. */
function setFlag(spec: CommandSpec, st: State, f: FlagSpec, value: string): void {
  const invalid = (why: string) => usageError(spec, `invalid argument ${JSON.stringify(value)} for ${JSON.stringify(flagLabel(f))} flag: ${why}`);
  switch (f.type) {
    case 'bool': {
      const b = parseBool(value);
      if (b === undefined) throw invalid(`strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
      st.bools.set(f.name, b);
      break;
    }
    case 'string':
      st.strings.set(f.name, value);
      break;
    case 'number': {
      const n = parseNumber(value);
      if (n === undefined) throw invalid(`strconv.ParseFloat: parsing ${JSON.stringify(value)}: invalid syntax`);
      st.numbers.set(f.name, n);
      break;
    }
    case 'list': {
      const l = st.lists.get(f.name);
      if (l) l.push(value);
      else st.lists.set(f.name, [value]);
      break;
    }
  }
  if (f.deprecated !== undefined && !st.given.has(f.name)) st.warnings.push(`Flag --${f.name} has been deprecated, ${f.deprecated}`);
  st.given.add(f.name);
}

/**
 * Parses `argv` (the arguments after the command name) against `spec`, with pflag's rules (see
 * the file comment). Throws ERR_USAGE for an unknown flag, a missing or invalid value, bad flag
 * syntax, or a positional count outside `spec.args` (unless help was requested).
 */
export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const { byName, byShort } = compile(spec);
  const interspersed = spec.interspersed !== false;
  const st: State = { bools: new Map(), strings: new Map(), numbers: new Map(), lists: new Map(), given: new Set(), warnings: [] };
  const args: string[] = [];

  let i = 0;
  const next = (): string | undefined => (i < argv.length ? argv[i++] : undefined);

  while (i < argv.length) {
    const s = argv[i++] as string;
    if (s.length < 2 || s[0] !== '-') {
      // A positional, including '' and a lone '-'.
      args.push(s);
      if (!interspersed) {
        args.push(...argv.slice(i));
        break;
      }
      continue;
    }
    if (s === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (s[1] === '-') {
      // Long flag: --name, --name=value, --name value.
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw usageError(spec, `bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const f = byName.get(name);
      if (!f) throw usageError(spec, `unknown flag: --${name}`);
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (f.type === 'bool') value = 'true';
      else {
        const v = next();
        if (v === undefined) throw usageError(spec, `flag needs an argument: ${s}`);
        value = v;
      }
      setFlag(spec, st, f, value);
      continue;
    }
    // Shorthand cluster: -itd, -p8080:80, -e=FOO, -itp 8080:80.
    let shorts = s.slice(1);
    while (shorts.length > 0) {
      const c = shorts[0] as string;
      const f = byShort.get(c);
      if (!f) throw usageError(spec, `unknown shorthand flag: '${c}' in -${shorts}`);
      let value: string;
      if (shorts.length > 2 && shorts[1] === '=') {
        value = shorts.slice(2);
        shorts = '';
      } else if (f.type === 'bool') {
        value = 'true';
        shorts = shorts.slice(1);
      } else if (shorts.length > 1) {
        value = shorts.slice(1);
        shorts = '';
      } else {
        const v = next();
        if (v === undefined) throw usageError(spec, `flag needs an argument: '${c}' in -${shorts}`);
        value = v;
        shorts = '';
      }
      setFlag(spec, st, f, value);
    }
  }

  const help = st.bools.get('help') === true;
  if (!help && spec.args) checkArgCount(spec, args.length);

  const declared = (name: string, type: FlagType): FlagSpec => {
    const f = byName.get(name);
    if (!f) throw new Error(`command ${spec.name}: no flag --${name} declared`);
    if (f.type !== type) throw new Error(`command ${spec.name}: flag --${name} is a ${f.type} flag, read as ${type}`);
    return f;
  };

  return {
    args,
    help,
    warnings: st.warnings,
    bool(name) {
      const f = declared(name, 'bool');
      return st.bools.get(name) ?? (f.default as boolean | undefined) ?? false;
    },
    str(name) {
      const f = declared(name, 'string');
      return st.strings.get(name) ?? (f.default as string | undefined);
    },
    num(name) {
      const f = declared(name, 'number');
      return st.numbers.get(name) ?? (f.default as number | undefined);
    },
    list(name) {
      const f = declared(name, 'list');
      return [...(st.lists.get(name) ?? (f.default as string[] | undefined) ?? [])];
    },
    has(name) {
      if (!byName.has(name)) throw new Error(`command ${spec.name}: no flag --${name} declared`);
      return st.given.has(name);
    },
  };
}

function pluralize(word: string, n: number): string {
  return n === 1 ? word : `${word}s`;
}

/**
 * Docker's positional-count errors (cli/required.go, Docker ≤ 27 wording), e.g.
 *   "berth rm" requires at least 1 argument.
 *   See 'berth rm --help'.
 *
 *   Usage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]
 *
 *   Remove one or more containers
 */
function checkArgCount(spec: CommandSpec, n: number): void {
  const min = spec.args?.min ?? 0;
  const max = spec.args?.max;
  if (n >= min && (max === undefined || n <= max)) return;
  const path = commandPath(spec);
  let first: string;
  if (max === 0) first = `"${path}" accepts no arguments.`;
  else if (max !== undefined && min === max) first = `"${path}" requires exactly ${min} ${pluralize('argument', min)}.`;
  else if (max !== undefined && min > 0) first = `"${path}" requires at least ${min} and at most ${max} ${pluralize('argument', max)}.`;
  else if (max !== undefined) first = `"${path}" requires at most ${max} ${pluralize('argument', max)}.`;
  else first = `"${path}" requires at least ${min} ${pluralize('argument', min)}.`;
  throw usageError(spec, `${first}\n${usageHint(spec)}\n\nUsage:  ${spec.usage}\n\n${spec.description}`);
}

/** The `list`/`string`/`int` word after a flag in the Options table, as pflag prints its type. */
function valueNameOf(f: FlagSpec): string {
  if (f.valueName !== undefined) return f.valueName;
  switch (f.type) {
    case 'bool':
      return '';
    case 'string':
      return 'string';
    case 'list':
      return 'list';
    case 'number':
      return typeof f.default === 'number' && !Number.isInteger(f.default) ? 'decimal' : 'int';
  }
}

/** pflag's ` (default …)` suffix, omitted for zero values (false, '', 0, []). */
function defaultSuffix(f: FlagSpec): string {
  const d = f.default;
  if (d === undefined || d === false || d === '' || d === 0) return '';
  if (Array.isArray(d)) return d.length === 0 ? '' : ` (default [${d.join(' ')}])`;
  if (typeof d === 'string') return ` (default ${JSON.stringify(d)})`;
  return ` (default ${String(d)})`;
}

/**
 * Help text as Docker prints it for `docker CMD --help`:
 *
 *   (blank line)
 *   Usage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]
 *   (blank line)
 *   Remove one or more containers
 *   (blank line)
 *   Aliases:
 *     berth container rm, berth rm
 *   (blank line)
 *   Options:
 *     -f, --force     Force the removal of a running container (uses SIGKILL)
 *     -v, --volumes   Remove anonymous volumes associated with the container
 *
 * Options are sorted by long name; hidden, deprecated and the help flag are left out. The
 * description column starts three spaces after the longest `  -x, --name type` cell, as pflag's
 * FlagUsages aligns it. Unlike Docker, long descriptions are not wrapped to the terminal width.
 * Ends with a newline.
 */
export function renderHelp(spec: CommandSpec): string {
  const out: string[] = ['', `Usage:  ${spec.usage}`, '', spec.description];
  if (spec.aliases && spec.aliases.length > 0) {
    out.push('', 'Aliases:', `  ${[spec.name, ...spec.aliases].map((a) => `${BIN_NAME} ${a}`).join(', ')}`);
  }
  const visible = spec.flags.filter((f) => !f.hidden && f.deprecated === undefined).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (visible.length > 0) {
    const cells = visible.map((f) => {
      let left = f.short !== undefined ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
      const vn = valueNameOf(f);
      if (vn !== '') left += ` ${vn}`;
      return { left, right: f.description + defaultSuffix(f) };
    });
    const width = Math.max(...cells.map((c) => c.left.length));
    out.push('', 'Options:');
    for (const c of cells) out.push(`${c.left.padEnd(width)}   ${c.right}`.trimEnd());
  }
  return out.join('\n') + '\n';
}

export interface GlobalOptions {
  root?: string;
  config?: string;
  /** `-H`/`--host`: the engine to talk to instead of a local one (BERTH_HOST is the caller's). */
  host?: string;
  debug: boolean;
  logLevel?: string;
  help: boolean;
  version: boolean;
}

/** The flags accepted before the command name, like Docker's root command. */
export const GLOBAL_SPEC: CommandSpec = {
  name: '',
  usage: `${BIN_NAME} [OPTIONS] COMMAND`,
  description: 'A container engine',
  interspersed: false,
  flags: [
    { name: 'root', type: 'string', valueName: 'string', description: 'Root directory of persistent berth state (default "/var/lib/berth", or $BERTH_ROOT)' },
    { name: 'config', type: 'string', valueName: 'string', description: 'Engine configuration file (default "/etc/berth/config.yaml")' },
    { name: 'debug', short: 'D', type: 'bool', description: 'Enable debug mode' },
    { name: 'host', short: 'H', type: 'string', valueName: 'string', description: 'Engine to connect to instead of running one here: unix:///path or tcp://host:port (default $BERTH_HOST)' },
    { name: 'log-level', short: 'l', type: 'string', description: 'Set the logging level ("debug", "info", "warn", "error", "fatal") (default "info")' },
    { name: 'version', short: 'v', type: 'bool', description: 'Print version information and quit' },
  ],
};

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'];

/**
 * Parses the global flags that come before the command (`berth --root /tmp/r -D ps -a`): the
 * first positional is the command, and it and everything after it is returned in `rest`
 * untouched. `-h`/`--help` and `-v`/`--version` set the booleans; the caller prints and exits 0.
 * An unknown flag before the command is an ERR_USAGE (`unknown flag: --foo`), and so is a log
 * level outside Docker's set (`Unable to parse logging level: loud`). Environment fallbacks
 * (`BERTH_ROOT`) are the caller's business: this function only reads argv.
 */
export function parseGlobal(argv: string[]): { globals: GlobalOptions; rest: string[] } {
  const p = parseArgs(GLOBAL_SPEC, argv);
  const globals: GlobalOptions = { debug: p.bool('debug'), help: p.help, version: p.bool('version') };
  const root = p.str('root');
  if (root !== undefined) globals.root = root;
  const config = p.str('config');
  if (config !== undefined) globals.config = config;
  const host = p.str('host');
  if (host !== undefined) globals.host = host;
  const logLevel = p.str('log-level');
  if (logLevel !== undefined) {
    if (!LOG_LEVELS.includes(logLevel)) throw ERR_USAGE(`Unable to parse logging level: ${logLevel}`);
    globals.logLevel = logLevel;
  }
  return { globals, rest: p.args };
}
