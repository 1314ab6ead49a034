/**
 * The error model of berth.
 *
 * Vocabulary
 * - *class*: one of a closed set of error classes (`ErrorClass`). Every error berth raises belongs
 *   to exactly one class; the class alone decides the HTTP status the API server answers with and
 *   the exit code the CLI returns, mirroring Docker's `errdefs` package.
 * - *code*: a stable, greppable identifier `ERR_<AREA>_<WHAT>` (for example `ERR_IMAGE_NOT_FOUND`).
 *   Codes never change meaning once published; scripts may match on them. Messages may change.
 * - *wrapping*: an error thrown inside a plugin is re-thrown by the kernel as a `BerthError` that
 *   names the plugin uri and the operation (`plugin`, `op`) and keeps the original as `cause`.
 *
 * Lifecycle
 *   const E = defineError('ERR_IMAGE_NOT_FOUND', 'notFound', 'no such image: %s');
 *   throw E('busybox:latest');                 // BerthError{code, cls: 'notFound', message}
 *   isErrorClass(err, 'notFound')              // true; also true for wrapped causes
 *   httpStatusOf(err) === 404; cliExitCodeOf(err) === 1
 */

/** The closed set of error classes. Mirrors containerd/moby errdefs. */
export type ErrorClass =
  | 'notFound'
  | 'alreadyExists'
  | 'invalidArgument'
  | 'conflict'
  | 'failedPrecondition'
  | 'unavailable'
  | 'notImplemented'
  | 'forbidden'
  | 'unauthorized'
  | 'internal';

/** HTTP status per class, as the Docker Engine API answers. */
export const HTTP_STATUS: Readonly<Record<ErrorClass, number>> = {
  notFound: 404,
  alreadyExists: 409,
  invalidArgument: 400,
  conflict: 409,
  failedPrecondition: 409,
  unavailable: 503,
  notImplemented: 501,
  forbidden: 403,
  unauthorized: 401,
  internal: 500,
};

/**
 * Exit codes of the CLI. Docker's CLI exits 1 for an error reported by the engine, and 125 for a
 * usage error (bad flag) and for any engine error during `run`/`create`/`start`, whose own exit
 * codes are reserved for the container's process (126 not executable, 127 not found).
 */
export const EXIT_ENGINE_ERROR = 1;
export const EXIT_USAGE = 125;
export const EXIT_RUN_ENGINE_ERROR = 125;
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_COMMAND_NOT_FOUND = 127;

export interface BerthErrorOptions {
  cause?: unknown;
  /** The uri (`type.id`) of the plugin the error came from, when it did. */
  plugin?: string;
  /** The operation being performed (`prepare`, `pull`, `createEndpoint` …). */
  op?: string;
  /** Extra structured details, shown by `--debug` and returned by the API. */
  details?: Record<string, unknown>;
}

export class BerthError extends Error {
  readonly code: string;
  readonly cls: ErrorClass;
  readonly plugin?: string;
  readonly op?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: string, cls: ErrorClass, message: string, opts: BerthErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BerthError';
    this.code = code;
    this.cls = cls;
    if (opts.plugin !== undefined) this.plugin = opts.plugin;
    if (opts.op !== undefined) this.op = opts.op;
    if (opts.details !== undefined) this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, class: this.cls, message: this.message, plugin: this.plugin, op: this.op, details: this.details };
  }
}

/** Formats `%s` placeholders in order; extra arguments are ignored. */
function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

export type ErrorFactory = ((...args: unknown[]) => BerthError) & {
  readonly code: string;
  readonly cls: ErrorClass;
  /** Like calling the factory, with a cause and other options. */
  with(opts: BerthErrorOptions, ...args: unknown[]): BerthError;
  /** True when `err` (or its cause chain) carries this code. */
  is(err: unknown): boolean;
};

const registeredCodes = new Map<string, ErrorClass>();

/**
 * Declares an error with a stable code. Declaring the same code twice with another class is a
 * programming error and throws at module load.
 */
export function defineError(code: string, cls: ErrorClass, template: string): ErrorFactory {
  if (!/^ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/.test(code)) throw new Error(`bad error code ${code}: want ERR_<AREA>_<WHAT>`);
  const prior = registeredCodes.get(code);
  if (prior !== undefined && prior !== cls) throw new Error(`error code ${code} declared as ${prior} and ${cls}`);
  registeredCodes.set(code, cls);
  const make = (opts: BerthErrorOptions, args: unknown[]) => new BerthError(code, cls, format(template, args), opts);
  const factory = ((...args: unknown[]) => make({}, args)) as ErrorFactory;
  Object.defineProperty(factory, 'code', { value: code });
  Object.defineProperty(factory, 'cls', { value: cls });
  Object.defineProperty(factory, 'with', { value: (opts: BerthErrorOptions, ...args: unknown[]) => make(opts, args) });
  Object.defineProperty(factory, 'is', { value: (err: unknown) => hasCode(err, code) });
  return factory;
}

/** Walks `err` and its `cause` chain. */
function* chain(err: unknown): Generator<unknown> {
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 16; depth++) {
    yield cur;
    cur = (cur as { cause?: unknown }).cause;
  }
}

export function hasCode(err: unknown, code: string): boolean {
  for (const e of chain(err)) if (e instanceof BerthError && e.code === code) return true;
  return false;
}

/** The class of the outermost BerthError in the chain, or `internal`. */
export function classOf(err: unknown): ErrorClass {
  for (const e of chain(err)) if (e instanceof BerthError) return e.cls;
  return 'internal';
}

export function isErrorClass(err: unknown, cls: ErrorClass): boolean {
  return classOf(err) === cls;
}

export function httpStatusOf(err: unknown): number {
  return HTTP_STATUS[classOf(err)];
}

/** Exit code for the CLI; `runLike` is set by `run`, `create` and `start`. */
export function cliExitCodeOf(err: unknown, runLike = false): number {
  if (hasCode(err, ERR_USAGE.code)) return EXIT_USAGE;
  return runLike ? EXIT_RUN_ENGINE_ERROR : EXIT_ENGINE_ERROR;
}

/**
 * Wraps anything thrown by a plugin so that the message names the plugin and the operation.
 * A BerthError keeps its code and class; anything else becomes ERR_PLUGIN_FAILED (internal).
 */
export function wrapPluginError(err: unknown, plugin: string, op: string): BerthError {
  if (err instanceof BerthError) {
    if (err.plugin !== undefined) return err;
    return new BerthError(err.code, err.cls, `${plugin}: ${op}: ${err.message}`, { cause: err, plugin, op, ...(err.details ? { details: err.details } : {}) });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return ERR_PLUGIN_FAILED.with({ cause: err, plugin, op }, plugin, op, msg);
}

/** A short, user-facing message for the CLI: `Error response from daemon`-style, one line. */
export function describeError(err: unknown): string {
  if (err instanceof BerthError) return `${err.message} (${err.code})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Converts errno-style Node errors into classes where the mapping is obvious. */
export function fromSystemError(err: unknown, what: string): BerthError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ENOENT':
      return ERR_SYSTEM_NOT_FOUND.with({ cause: err }, what, msg);
    case 'EACCES':
    case 'EPERM':
      return ERR_SYSTEM_FORBIDDEN.with({ cause: err }, what, msg);
    case 'EEXIST':
      return ERR_SYSTEM_EXISTS.with({ cause: err }, what, msg);
    default:
      return ERR_SYSTEM_FAILED.with({ cause: err }, what, msg);
  }
}

// Errors of the kernel itself. Each contract predeclares its own next to its interface.
export const ERR_USAGE = defineError('ERR_CLI_USAGE', 'invalidArgument', '%s');
export const ERR_PLUGIN_FAILED = defineError('ERR_PLUGIN_FAILED', 'internal', 'plugin %s failed during %s: %s');
export const ERR_SYSTEM_NOT_FOUND = defineError('ERR_SYSTEM_NOT_FOUND', 'notFound', '%s: %s');
export const ERR_SYSTEM_FORBIDDEN = defineError('ERR_SYSTEM_FORBIDDEN', 'forbidden', '%s: %s');
export const ERR_SYSTEM_EXISTS = defineError('ERR_SYSTEM_EXISTS', 'alreadyExists', '%s: %s');
export const ERR_SYSTEM_FAILED = defineError('ERR_SYSTEM_FAILED', 'internal', '%s: %s');
export const ERR_NOT_IMPLEMENTED = defineError('ERR_CORE_NOT_IMPLEMENTED', 'notImplemented', '%s is not implemented');
