/**
 * Plugins: declarative registration records, the registry that validates them, and the boot
 * that initialises them in dependency order.
 *
 * Vocabulary
 * - *registration*: a plain record `{ type, id, requires, configSchema, module, init }`. It is
 *   data, checked when it is registered, long before anything runs.
 * - *type*: the contract implemented (`berth.storage.v1`, see plugin-types.ts); *id*: the
 *   implementation (`overlay`); *uri*: `type.id`, unique within one engine.
 * - *requires*: plugin **types** this plugin needs initialised first. `'*'` means "after every
 *   other plugin" and cannot be mixed with other entries.
 * - *skip*: a plugin whose host lacks something (no overlayfs, no crun) throws `PluginSkipError`
 *   from `init`; it is listed as `skipped` with the reason and boot goes on — unless the engine
 *   configuration lists it in `required-plugins`, in which case boot fails.
 * - *failed*: any other error from `init`; the plugin is listed as `failed`, its dependants are
 *   skipped ("requires X, which failed"), and boot fails only if it was required.
 *
 * Lifecycle
 *   const reg = new PluginRegistry();
 *   reg.register({ type: PluginType.Storage, id: 'vfs', init: (ctx) => new VfsDriver(ctx.dataDir) });
 *   const order = reg.graph();              // topological order; throws ERR_PLUGIN_CYCLE naming the chain
 *   const booted = await bootPlugins(reg, { root, config, ... });
 *   booted.get<StorageDriver>(PluginType.Storage, 'vfs');
 *
 * Each plugin's `init(ctx)` receives its own configuration section (validated against its
 * `configSchema`), its own data directory `<root>/plugins/<uri>`, a logger, lookups of plugins
 * booted before it, and an inversify child container in which its container module was loaded.
 *
 * Wiring (inversify): every plugin is constructed through one container module of its own,
 * loaded into its own child of the engine's root container. The module binds
 * `TOKENS.PluginInstance`; the kernel resolves that token and binds the result in the root
 * container under `pluginToken(type)` named by id. A plugin that ships no `module` gets one from
 * the kernel whose `PluginInstance` binding calls `init(ctx)`, so the lifecycle is the same for
 * both. A module is given as a factory so that registration files stay light.
 */
import { mark } from './trace';
import { Container, ContainerModule } from 'inversify';
import { BerthError, defineError, wrapPluginError } from './errors';
import type { Logger } from './logger';
import { PluginTypeName, isKnownPluginType } from './plugin-types';
import { ConfigSchema, validateSection } from './config';
import { TOKENS, pluginToken } from './tokens';

export const ERR_PLUGIN_INVALID = defineError('ERR_PLUGIN_INVALID', 'invalidArgument', 'invalid plugin registration: %s');
export const ERR_PLUGIN_DUPLICATE = defineError('ERR_PLUGIN_DUPLICATE', 'alreadyExists', 'plugin %s is already registered');
export const ERR_PLUGIN_CYCLE = defineError('ERR_PLUGIN_CYCLE', 'invalidArgument', 'plugin dependency cycle: %s');
export const ERR_PLUGIN_REQUIRED = defineError('ERR_PLUGIN_REQUIRED', 'failedPrecondition', 'required plugin(s) not available: %s');
export const ERR_PLUGIN_NOT_FOUND = defineError('ERR_PLUGIN_NOT_FOUND', 'notFound', 'no plugin %s');
export const ERR_PLUGIN_AMBIGUOUS = defineError('ERR_PLUGIN_AMBIGUOUS', 'conflict', 'several plugins of type %s are loaded (%s): name one');
export const ERR_PLUGIN_SKIPPED = defineError('ERR_PLUGIN_SKIPPED', 'failedPrecondition', 'plugin %s is not available: %s');

/** Thrown by `init` when the host lacks what the plugin needs. `fix` is the command that fixes it. */
export class PluginSkipError extends Error {
  readonly fix?: string;
  constructor(reason: string, fix?: string) {
    super(reason);
    this.name = 'PluginSkipError';
    if (fix !== undefined) this.fix = fix;
  }
}

export function isPluginSkipError(err: unknown): err is PluginSkipError {
  return err instanceof PluginSkipError || (err instanceof Error && err.name === 'PluginSkipError');
}

/** What a plugin can publish about itself beyond its instance. */
export interface PluginMeta {
  /** Feature words: 'remap-ids', 'ipv6', 'tty' … */
  capabilities: string[];
  /** Free-form facts shown by `berth info` (`root`, `runtime`, `version` …). */
  exports: Record<string, string>;
}

export interface InitContext {
  readonly uri: string;
  readonly type: string;
  readonly id: string;
  /** The engine's state root. */
  readonly root: string;
  /** This plugin's own directory, `<root>/plugins/<uri>`; created before init. */
  readonly dataDir: string;
  /** This plugin's configuration section, validated and with defaults applied. */
  readonly config: Record<string, unknown>;
  /** The whole engine configuration (read-only). */
  readonly engineConfig: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
  /** A child container; the plugin's `module` has been loaded into it. */
  readonly container: Container;
  readonly meta: PluginMeta;
  /** The single plugin of a type (its `requires` must name it); throws if none or several. */
  get<T>(type: string): T;
  /** Every booted plugin of a type, in boot order. */
  getAll<T>(type: string): Array<{ id: string; instance: T }>;
  getById<T>(type: string, id: string): T;
}

export interface PluginRegistration<T = unknown> {
  type: PluginTypeName | string;
  id: string;
  /** Plugin types this one needs booted first, or `['*']`. */
  requires?: string[];
  description?: string;
  /** Schema of this plugin's configuration section (`plugins: { <uri or id>: {...} }`). */
  configSchema?: ConfigSchema;
  /**
   * The plugin's container module (a factory, called at boot). It must bind
   * `TOKENS.PluginInstance`; it can inject `TOKENS.PluginContext`, `TOKENS.PluginConfig` and
   * anything bound in the root container. Without it, the kernel's default module binds
   * `PluginInstance` to `init(ctx)`.
   */
  module?: () => ContainerModule;
  /** Creates the instance when no `module` binds it. */
  init(ctx: InitContext): T | Promise<T>;
}

export type PluginStatus = 'ok' | 'skipped' | 'failed';

export interface PluginRecord {
  uri: string;
  type: string;
  id: string;
  status: PluginStatus;
  /** Why it was skipped or failed. */
  reason?: string;
  /** For skipped plugins: the command that fixes the host. */
  fix?: string;
  /** Milliseconds spent in init. */
  ms: number;
  meta: PluginMeta;
  description?: string;
}

export function uriOf(r: { type: string; id: string }): string {
  return `${r.type}.${r.id}`;
}

/**
 * Holds registrations. Registration validates eagerly: a misdeclared plugin never reaches boot.
 */
export class PluginRegistry {
  private readonly byUri = new Map<string, PluginRegistration>();

  register(reg: PluginRegistration): this {
    if (reg === null || typeof reg !== 'object') throw ERR_PLUGIN_INVALID('registration must be an object');
    if (typeof reg.type !== 'string' || reg.type.trim() === '') throw ERR_PLUGIN_INVALID('empty type');
    if (typeof reg.id !== 'string' || reg.id.trim() === '') throw ERR_PLUGIN_INVALID(`empty id (type ${reg.type})`);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(reg.id)) throw ERR_PLUGIN_INVALID(`id ${JSON.stringify(reg.id)} must be lower-case letters, digits, '.', '_' or '-'`);
    if (typeof reg.init !== 'function') throw ERR_PLUGIN_INVALID(`${uriOf(reg)} has no init function`);
    const uri = uriOf(reg);
    if (this.byUri.has(uri)) throw ERR_PLUGIN_DUPLICATE(uri);
    const req = reg.requires ?? [];
    if (req.includes('*') && req.length > 1) throw ERR_PLUGIN_INVALID(`${uri}: '*' cannot be mixed with other requires`);
    if (req.includes(reg.type)) throw ERR_PLUGIN_INVALID(`${uri} requires its own type ${reg.type}`);
    for (const r of req) if (typeof r !== 'string' || r === '') throw ERR_PLUGIN_INVALID(`${uri}: empty entry in requires`);
    this.byUri.set(uri, reg);
    return this;
  }

  registerAll(regs: Iterable<PluginRegistration>): this {
    for (const r of regs) this.register(r);
    return this;
  }

  list(): PluginRegistration[] {
    return [...this.byUri.values()];
  }

  get(uri: string): PluginRegistration | undefined {
    return this.byUri.get(uri);
  }

  /**
   * The boot order: a depth-first topological sort over `requires` (by type). Plugins with
   * `'*'` come last. Registration order breaks ties, so boot is deterministic.
   * A cycle throws ERR_PLUGIN_CYCLE naming the uri chain, e.g. `a.x -> b.y -> a.x`.
   */
  graph(filter: (r: PluginRegistration) => boolean = () => true): PluginRegistration[] {
    const regs = this.list().filter(filter);
    const byType = new Map<string, PluginRegistration[]>();
    for (const r of regs) byType.set(r.type, [...(byType.get(r.type) ?? []), r]);
    const out: PluginRegistration[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (r: PluginRegistration, path: string[]) => {
      const uri = uriOf(r);
      const s = state.get(uri);
      if (s === 'done') return;
      if (s === 'visiting') {
        const start = path.indexOf(uri);
        throw ERR_PLUGIN_CYCLE([...path.slice(start), uri].join(' -> '));
      }
      state.set(uri, 'visiting');
      for (const t of r.requires ?? []) {
        if (t === '*') continue;
        for (const dep of byType.get(t) ?? []) visit(dep, [...path, uri]);
      }
      state.set(uri, 'done');
      out.push(r);
    };
    const last = regs.filter((r) => (r.requires ?? []).includes('*'));
    for (const r of regs) if (!last.includes(r)) visit(r, []);
    for (const r of last) visit(r, []);
    return out;
  }
}

export interface BootOptions {
  root: string;
  engineConfig: Record<string, unknown>;
  /** Configuration sections keyed by uri or by id. */
  pluginConfig: (reg: PluginRegistration) => unknown;
  /** uris (or ids) whose absence fails the boot. */
  required: string[];
  /** uris (or ids) not to load at all. */
  disabled: string[];
  logger: Logger;
  /** The engine's root container; plugin instances are bound in it. */
  container: Container;
  /** Ensures a directory exists (injected so unit tests need no disk). */
  mkdirp: (dir: string) => Promise<void>;
  /** Only boot plugins of these types and what they require (for fast CLI commands). */
  onlyTypes?: string[];
  /**
   * For these types (type → id) the others are left out once the given plugin is `ok` (when it
   * skips or fails, or boots after them, they boot as usual: the fallback still happens). For
   * commands that use just the configured driver or backend (`create`, `run`): the others'
   * start-up is not paid. A required plugin is never left out.
   */
  prefer?: Record<string, string>;
  /** Name of the config file, for error messages. */
  configFile?: string;
}

/** The result of a boot: instances and a record per plugin. */
export class BootedPlugins {
  readonly records: PluginRecord[] = [];
  private readonly instances = new Map<string, unknown>();
  private readonly order: Array<{ type: string; id: string }> = [];

  add(rec: PluginRecord, instance?: unknown): void {
    this.records.push(rec);
    if (rec.status === 'ok') {
      this.instances.set(rec.uri, instance);
      this.order.push({ type: rec.type, id: rec.id });
    }
  }

  record(type: string, id: string): PluginRecord | undefined {
    return this.records.find((r) => r.type === type && r.id === id);
  }

  getAll<T>(type: string): Array<{ id: string; instance: T }> {
    return this.order.filter((o) => o.type === type).map((o) => ({ id: o.id, instance: this.instances.get(`${o.type}.${o.id}`) as T }));
  }

  getById<T>(type: string, id: string): T {
    const uri = `${type}.${id}`;
    if (this.instances.has(uri)) return this.instances.get(uri) as T;
    const rec = this.records.find((r) => r.uri === uri);
    if (rec) throw ERR_PLUGIN_SKIPPED(uri, rec.reason ?? rec.status);
    throw ERR_PLUGIN_NOT_FOUND(uri);
  }

  get<T>(type: string): T {
    const all = this.getAll<T>(type);
    if (all.length === 1) return all[0]!.instance;
    if (all.length === 0) {
      const recs = this.records.filter((r) => r.type === type);
      if (recs.length) throw ERR_PLUGIN_SKIPPED(type, recs.map((r) => `${r.id}: ${r.reason ?? r.status}`).join('; '));
      throw ERR_PLUGIN_NOT_FOUND(`of type ${type}`);
    }
    throw ERR_PLUGIN_AMBIGUOUS(type, all.map((a) => a.id).join(', '));
  }
}

function matches(list: string[], reg: PluginRegistration): boolean {
  return list.includes(uriOf(reg)) || list.includes(reg.id);
}

/**
 * Initialises plugins in dependency order. Never throws for a single plugin's skip or failure;
 * throws ERR_PLUGIN_REQUIRED (listing every missing required plugin) at the end if any required
 * plugin is not `ok`, and ERR_PLUGIN_CYCLE / config errors before anything runs.
 */
export async function bootPlugins(registry: PluginRegistry, opts: BootOptions): Promise<BootedPlugins> {
  let filter = (r: PluginRegistration) => !matches(opts.disabled, r);
  if (opts.onlyTypes) {
    const wanted = new Set(opts.onlyTypes);
    // Close the set of wanted types over `requires`.
    let grew = true;
    while (grew) {
      grew = false;
      for (const r of registry.list()) {
        if (!wanted.has(r.type)) continue;
        for (const t of r.requires ?? []) if (t !== '*' && !wanted.has(t)) { wanted.add(t); grew = true; }
      }
    }
    const base = filter;
    filter = (r) => base(r) && (wanted.has(r.type) || matches(opts.required, r));
  }
  const order = registry.graph(filter);
  // Validate every configuration section before running anything.
  const configs = new Map<string, Record<string, unknown>>();
  for (const reg of order) {
    const raw = opts.pluginConfig(reg);
    const section = reg.configSchema
      ? validateSection(reg.configSchema, raw ?? {}, `plugins.${reg.id}`, opts.configFile)
      : ((raw ?? {}) as Record<string, unknown>);
    configs.set(uriOf(reg), section);
  }
  const booted = new BootedPlugins();
  const prefer = opts.prefer ?? {};
  // One pass in boot order: a plugin is left out only when its type's preferred plugin came
  // before it and is `ok` (a preferred one later in the order cannot be known yet: booted).
  const leftOut = (reg: PluginRegistration) =>
    prefer[reg.type] !== undefined && prefer[reg.type] !== reg.id && !matches(opts.required, reg) &&
    booted.records.some((r) => r.type === reg.type && r.id === prefer[reg.type] && r.status === 'ok');
  for (const reg of order) {
    if (leftOut(reg)) continue;
    const uri = uriOf(reg);
    const meta: PluginMeta = { capabilities: [], exports: {} };
    const base = { uri, type: reg.type, id: reg.id, meta, ms: 0, ...(reg.description ? { description: reg.description } : {}) };
    // A dependency that is not ok makes this plugin skip.
    const missing: string[] = [];
    for (const t of reg.requires ?? []) {
      if (t === '*') continue;
      if (booted.getAll(t).length === 0) missing.push(t);
    }
    if (missing.length) {
      const why = missing.map((t) => {
        const recs = booted.records.filter((r) => r.type === t);
        return recs.length ? `${t} (${recs.map((r) => `${r.id} ${r.status}`).join(', ')})` : `${t} (none loaded)`;
      });
      booted.add({ ...base, status: 'skipped', reason: `requires ${why.join(', ')}` });
      continue;
    }
    const dataDir = `${opts.root}/plugins/${uri}`;
    const child = new Container({ parent: opts.container });
    const ctx: InitContext = {
      uri, type: reg.type, id: reg.id, root: opts.root, dataDir,
      config: configs.get(uri) ?? {},
      engineConfig: opts.engineConfig,
      logger: opts.logger.child(uri),
      container: child,
      meta,
      get: <T>(type: string) => booted.get<T>(type),
      getAll: <T>(type: string) => booted.getAll<T>(type),
      getById: <T>(type: string, id: string) => booted.getById<T>(type, id),
    };
    const t0 = performance.now();
    try {
      if (!isKnownPluginType(reg.type)) opts.logger.debug(`plugin ${uri} has a type berth does not know; loading it anyway`);
      await opts.mkdirp(dataDir);
      child.bind(TOKENS.PluginContext).toConstantValue(ctx);
      child.bind(TOKENS.PluginConfig).toConstantValue(ctx.config);
      const module = reg.module
        ? reg.module()
        : new ContainerModule((o) => {
            o.bind(TOKENS.PluginInstance).toDynamicValue(() => reg.init(ctx)).inSingletonScope();
          });
      await child.load(module);
      const instance = await child.getAsync<unknown>(TOKENS.PluginInstance);
      opts.container.bind(pluginToken(reg.type)).toConstantValue(instance).whenNamed(reg.id);
      booted.add({ ...base, status: 'ok', ms: performance.now() - t0 }, instance);
      mark(`plugin ${uri} ok in ${(performance.now() - t0).toFixed(1)} ms`);
    } catch (err) {
      const ms = performance.now() - t0;
      if (isPluginSkipError(err)) {
        opts.logger.info(`plugin ${uri} skipped: ${err.message}`);
        booted.add({ ...base, status: 'skipped', reason: err.message, ...(err.fix ? { fix: err.fix } : {}), ms });
      } else {
        const wrapped = wrapPluginError(err, uri, 'init');
        opts.logger.warn(`plugin ${uri} failed: ${wrapped.message}`);
        booted.add({ ...base, status: 'failed', reason: (err as Error)?.message ?? String(err), ms });
      }
    }
  }
  const notOk = opts.required.filter((want) => {
    const recs = booted.records.filter((r) => r.uri === want || r.id === want);
    return recs.length === 0 || recs.some((r) => r.status !== 'ok');
  });
  if (notOk.length) {
    const detail = notOk.map((want) => {
      const rec = booted.records.find((r) => r.uri === want || r.id === want);
      return rec ? `${rec.uri} (${rec.status}: ${rec.reason})` : `${want} (not registered)`;
    });
    throw ERR_PLUGIN_REQUIRED(detail.join('; '));
  }
  return booted;
}

export { BerthError };
