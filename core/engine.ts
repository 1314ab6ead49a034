/**
 * The Engine: one object every front end (CLI, API server, compose) calls.
 *
 * It owns the state root, the configuration, the kernel stores (metadata, content, events), the
 * inversify root container and the booted plugins. Domain services (images, containers,
 * networks, volumes, build) live in their own modules and attach with `engine.use(factory)`, so
 * the kernel does not grow with every feature and never imports a plugin: plugins are handed in
 * as registrations by whoever assembles the runtime (`plugins/builtins.ts` for the stock CLI).
 *
 * State root layout (`--root`, `BERTH_ROOT`, default /var/lib/berth). Two roots share nothing:
 *   meta/            metadata records (MetadataStore)
 *   content/         sha256 blobs and partial ingests (ContentStore)
 *   events/          the event log
 *   plugins/<uri>/   each plugin's own directory
 *   tmp/             scratch space, on the same filesystem for atomic renames
 *
 * Lifecycle
 *   const engine = await Engine.open({ registrations: builtins, root, configFile });
 *   engine.storage(); engine.isolation(); engine.use(imageService).pull(…);
 *   await engine.close();
 */
import { mark } from './trace';
import 'reflect-metadata';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Container } from 'inversify';
import { defineError } from './errors';
import { createLogger, Logger, LogLevel } from './logger';
import { EngineConfig, DEFAULT_CONFIG_FILE, defaultEngineConfig, parseEngineConfig, pluginSection } from './config';
import { BootedPlugins, PluginRegistration, PluginRegistry, bootPlugins } from './plugin';
import { PluginType } from './plugin-types';
import { TOKENS } from './tokens';
import { EventBus } from './events';
import type { MetadataStore } from './store/metadata';
import type { ContentStore } from './store/content';
import type { HostPlugin } from './contracts/host';
import type { StorageDriver } from './contracts/storage';
import type { IsolationBackend } from './contracts/isolation';

export const ERR_CONFIG_MISSING = defineError('ERR_CONFIG_NOT_FOUND', 'notFound', 'configuration file %s: %s');
export const ERR_ENGINE_NO_DRIVER = defineError('ERR_ENGINE_NO_DRIVER', 'failedPrecondition', 'no usable %s plugin: %s');

export const DEFAULT_ROOT = '/var/lib/berth';
export { VERSION, API_VERSION } from './version';

export interface EngineOpenOptions {
  registrations: PluginRegistration[];
  root?: string;
  /** Explicit configuration file; a missing explicit file is an error. */
  configFile?: string;
  /** A ready configuration (tests); wins over the file. */
  config?: EngineConfig;
  logLevel?: LogLevel;
  /** Boot only these plugin types (and what they require). Undefined boots all. */
  onlyTypes?: string[];
  /**
   * Boot only the configured storage driver and isolation backend when they come up (their
   * type's others are then left out; see BootOptions.prefer). For commands that use nothing else.
   */
  preferConfigured?: boolean;
  /** Per-plugin configuration overrides keyed by id or uri, merged over the file's sections. */
  pluginOverrides?: Record<string, Record<string, unknown>>;
}

export function resolveRoot(explicit?: string): string {
  return resolve(explicit ?? process.env.BERTH_ROOT ?? DEFAULT_ROOT);
}

async function loadConfig(opts: EngineOpenOptions, root: string): Promise<{ config: EngineConfig; file: string; explicitKeys: Set<string> }> {
  if (opts.config) return { config: opts.config, file: '<given>', explicitKeys: new Set(Object.keys(opts.config)) };
  const explicit = opts.configFile ?? process.env.BERTH_CONFIG;
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (explicit !== undefined) throw ERR_CONFIG_MISSING.with({ cause: e }, file, (e as Error).message);
    return { config: defaultEngineConfig(), file: '<defaults>', explicitKeys: new Set() };
  }
  // The parsed config is cached in the root, one entry per config file holding the text it was
  // parsed from: loading the YAML library and parsing costs a command ≈ 20 ms; a hit is the
  // same text, so the same result, and an edit replaces the entry.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const cacheFile = `${root}/cache/config-${createHash('sha256').update(resolve(file)).digest('hex').slice(0, 32)}.json`;
  try {
    const hit = JSON.parse(readFileSync(cacheFile, 'utf8')) as { text: string; config: EngineConfig; explicitKeys: string[] };
    if (hit.text === text) return { config: hit.config, file, explicitKeys: new Set(hit.explicitKeys) };
  } catch { /* no cache yet */ }
  const config = parseEngineConfig(text, file);
  const raw = (require('yaml') as typeof import('yaml')).parse(text) as Record<string, unknown> | null;
  const explicitKeys = Object.keys(raw ?? {});
  try {
    const { writeFileAtomic } = require('./store/atomic') as typeof import('./store/atomic');
    mkdirSync(`${root}/cache`, { recursive: true });
    await writeFileAtomic(cacheFile, JSON.stringify({ text, config, explicitKeys }));
  } catch { /* a read-only root works without the cache */ }
  return { config, file, explicitKeys: new Set(explicitKeys) };
}

export class Engine {
  readonly container = new Container();
  private readonly services = new Map<unknown, unknown>();
  private _metadata?: MetadataStore;
  private _content?: ContentStore;
  readonly events: EventBus;

  private constructor(
    readonly root: string,
    readonly config: EngineConfig,
    readonly configFile: string,
    private readonly explicitKeys: Set<string>,
    readonly logger: Logger,
    readonly registry: PluginRegistry,
    public plugins: BootedPlugins,
  ) {
    this.events = new EventBus(`${root}/events`);
  }

  static async open(opts: EngineOpenOptions): Promise<Engine> {
    const root = resolveRoot(opts.root);
    mark('engine: open');
    const { config, file, explicitKeys } = await loadConfig(opts, root);
    mark('engine: config');
    const logger = createLogger(opts.logLevel ?? config['log-level'], 'berth');
    const registry = new PluginRegistry().registerAll(opts.registrations);
    // Start-up reads and mkdirs are synchronous: a few small calls on every command, each a
    // thread-pool round trip otherwise.
    mkdirSync(`${root}/tmp`, { recursive: true, mode: 0o711 });
    const engine = new Engine(root, config, file, explicitKeys, logger, registry, new BootedPlugins());
    const c = engine.container;
    c.bind(TOKENS.EngineConfig).toConstantValue(config);
    c.bind(TOKENS.StateRoot).toConstantValue(root);
    c.bind(TOKENS.Logger).toConstantValue(logger);
    c.bind(TOKENS.Events).toConstantValue(engine.events);
    c.bind(TOKENS.MetadataStore).toDynamicValue(() => engine.metadata);
    c.bind(TOKENS.ContentStore).toDynamicValue(() => engine.content);
    engine.plugins = await bootPlugins(registry, {
      root,
      engineConfig: config as unknown as Record<string, unknown>,
      pluginConfig: (reg) => {
        const base = pluginSection(config, `${reg.type}.${reg.id}`, reg.id);
        const over = opts.pluginOverrides?.[`${reg.type}.${reg.id}`] ?? opts.pluginOverrides?.[reg.id];
        return over ? { ...((base as object | undefined) ?? {}), ...over } : base;
      },
      required: config['required-plugins'],
      disabled: config['disabled-plugins'],
      logger,
      container: c,
      mkdirp: async (d) => void mkdirSync(d, { recursive: true }),
      ...(opts.onlyTypes ? { onlyTypes: opts.onlyTypes } : {}),
      ...(opts.preferConfigured ? { prefer: { [PluginType.Storage]: config['storage-driver'], [PluginType.Isolation]: config.isolation } } : {}),
      configFile: file,
    });
    return engine;
  }

  get metadata(): MetadataStore {
    if (!this._metadata) {
      const { MetadataStore } = require('./store/metadata') as typeof import('./store/metadata');
      this._metadata = new MetadataStore(`${this.root}/meta`);
    }
    return this._metadata;
  }

  get content(): ContentStore {
    if (!this._content) {
      const { ContentStore } = require('./store/content') as typeof import('./store/content');
      this._content = new ContentStore(`${this.root}/content`);
    }
    return this._content;
  }

  /** Replaces the content store's hasher once the codec backend is chosen. */
  setContentStore(store: ContentStore): void {
    this._content = store;
  }

  /** A scratch directory on the state root's filesystem. */
  get tmpDir(): string {
    return `${this.root}/tmp`;
  }

  host(): HostPlugin {
    return this.plugins.get<HostPlugin>(PluginType.Host);
  }

  /**
   * The plugin of `type` to use: the configured id when the user set one explicitly (a skipped
   * plugin is then an error naming why), else the default id, else the first one booted.
   */
  pick<T>(type: string, configKey: 'storage-driver' | 'isolation', want?: string): T {
    const id = want ?? this.config[configKey];
    const all = this.plugins.getAll<T>(type);
    const found = all.find((p) => p.id === id);
    if (found) return found.instance;
    if (want !== undefined || this.explicitKeys.has(configKey) || all.length === 0) {
      const rec = this.plugins.record(type, id);
      const why = rec ? `${rec.id} is ${rec.status}: ${rec.reason}` : `${id} is not loaded`;
      throw ERR_ENGINE_NO_DRIVER(type, all.length && !rec ? `${why} (loaded: ${all.map((a) => a.id).join(', ')})` : why);
    }
    return all[0]!.instance;
  }

  storage(id?: string): StorageDriver {
    return this.pick<StorageDriver>(PluginType.Storage, 'storage-driver', id);
  }

  isolation(id?: string): IsolationBackend {
    return this.pick<IsolationBackend>(PluginType.Isolation, 'isolation', id);
  }

  /** One instance of a domain service per engine, created on first use. */
  use<T>(factory: (engine: Engine) => T): T {
    if (!this.services.has(factory)) this.services.set(factory, factory(this));
    return this.services.get(factory) as T;
  }

  async close(): Promise<void> {
    for (const s of this.services.values()) {
      const close = (s as { close?: () => unknown } | undefined)?.close;
      if (typeof close === 'function') await close.call(s);
    }
    this.services.clear();
  }
}
