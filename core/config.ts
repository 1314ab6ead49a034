/**
 * The engine configuration: a YAML file (`/etc/berth/config.yaml`, or `--config FILE`) with
 * engine-wide defaults and one section per plugin.
 *
 *   storage-driver: overlay          # default storage plugin id
 *   isolation: oci                   # default isolation plugin id (oci | ns)
 *   registries:
 *     mirrors: { docker.io: ["http://127.0.0.1:5000"] }
 *     insecure: ["127.0.0.1:5000"]
 *   required-plugins: [berth.storage.v1.overlay]
 *   disabled-plugins: []
 *   log-level: warn
 *   plugins:
 *     overlay: { … }                 # keyed by id, or by uri (berth.storage.v1.overlay)
 *
 * Validation happens at boot, before any plugin runs. An error names the file, the key path and
 * the expected type: `/etc/berth/config.yaml: registries.insecure: expected a list of strings, got number`.
 * Unknown top-level keys are errors too (a typo should not be silently ignored).
 */
import { defineError } from './errors';

export const ERR_CONFIG_INVALID = defineError('ERR_CONFIG_INVALID', 'invalidArgument', '%s: %s: %s');
export const ERR_CONFIG_PARSE = defineError('ERR_CONFIG_PARSE', 'invalidArgument', '%s: not valid YAML: %s');

/** A field of a configuration schema. Objects nest. */
export type FieldSchema =
  | { type: 'string'; default?: string; enum?: readonly string[]; description: string }
  | { type: 'number'; default?: number; min?: number; max?: number; integer?: boolean; description: string }
  | { type: 'boolean'; default?: boolean; description: string }
  | { type: 'string[]'; default?: string[]; description: string }
  | { type: 'map'; values: 'string' | 'string[]'; default?: Record<string, unknown>; description: string }
  | { type: 'object'; fields: ConfigSchema; description: string; open?: boolean };

export type ConfigSchema = Record<string, FieldSchema>;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

/**
 * Validates `raw` against `schema`, applies defaults and returns a new object. Throws
 * ERR_CONFIG_INVALID naming `file`, the dotted key path and the expected type.
 */
export function validateSection(schema: ConfigSchema, raw: unknown, path: string, file = '<config>', open = false): Record<string, unknown> {
  const bad = (key: string, want: string, got: unknown) => ERR_CONFIG_INVALID(file, key, `expected ${want}, got ${typeName(got)}${typeof got === 'string' || typeof got === 'number' ? ` ${JSON.stringify(got)}` : ''}`);
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad(path || '(top level)', 'a mapping', raw);
  const src = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const keyOf = (k: string) => (path ? `${path}.${k}` : k);
  if (!open) {
    for (const k of Object.keys(src)) {
      if (!(k in schema)) throw ERR_CONFIG_INVALID(file, keyOf(k), `unknown key (known: ${Object.keys(schema).join(', ') || 'none'})`);
    }
  }
  for (const [k, f] of Object.entries(schema)) {
    const v = src[k];
    const key = keyOf(k);
    if (v === undefined || v === null) {
      if (f.type === 'object') out[k] = validateSection(f.fields, {}, key, file, f.open);
      else if ('default' in f && f.default !== undefined) out[k] = structuredClone(f.default);
      continue;
    }
    switch (f.type) {
      case 'string':
        if (typeof v !== 'string') throw bad(key, 'a string', v);
        if (f.enum && !f.enum.includes(v)) throw ERR_CONFIG_INVALID(file, key, `expected one of ${f.enum.join(', ')}, got ${JSON.stringify(v)}`);
        out[k] = v;
        break;
      case 'number':
        if (typeof v !== 'number' || Number.isNaN(v)) throw bad(key, f.integer ? 'an integer' : 'a number', v);
        if (f.integer && !Number.isInteger(v)) throw bad(key, 'an integer', v);
        if (f.min !== undefined && v < f.min) throw ERR_CONFIG_INVALID(file, key, `expected a number >= ${f.min}, got ${v}`);
        if (f.max !== undefined && v > f.max) throw ERR_CONFIG_INVALID(file, key, `expected a number <= ${f.max}, got ${v}`);
        out[k] = v;
        break;
      case 'boolean':
        if (typeof v !== 'boolean') throw bad(key, 'a boolean (true/false)', v);
        out[k] = v;
        break;
      case 'string[]':
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(key, 'a list of strings', v);
        out[k] = [...v];
        break;
      case 'map': {
        if (typeof v !== 'object' || Array.isArray(v)) throw bad(key, 'a mapping', v);
        const m: Record<string, unknown> = {};
        for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
          if (f.values === 'string' && typeof mv !== 'string') throw bad(`${key}.${mk}`, 'a string', mv);
          if (f.values === 'string[]' && (!Array.isArray(mv) || mv.some((x) => typeof x !== 'string'))) throw bad(`${key}.${mk}`, 'a list of strings', mv);
          m[mk] = mv;
        }
        out[k] = m;
        break;
      }
      case 'object':
        out[k] = validateSection(f.fields, v, key, file, f.open);
        break;
    }
  }
  if (open) for (const [k, v] of Object.entries(src)) if (!(k in out)) out[k] = v;
  return out;
}

/** The engine-wide keys. Plugin sections are validated by each plugin's own schema. */
export const ENGINE_SCHEMA: ConfigSchema = {
  'storage-driver': { type: 'string', default: 'overlay', description: 'id of the default storage plugin' },
  isolation: { type: 'string', default: 'oci', description: 'id of the default isolation plugin (oci, ns); falls back to another when it is skipped' },
  'log-level': { type: 'string', default: 'warn', enum: ['debug', 'info', 'warn', 'error'], description: 'log level' },
  registries: {
    type: 'object',
    description: 'registry settings',
    fields: {
      mirrors: { type: 'map', values: 'string[]', default: {}, description: 'registry host → mirror endpoints, tried in order' },
      insecure: { type: 'string[]', default: [], description: 'registries reached over plain HTTP (host[:port])' },
    },
  },
  'required-plugins': { type: 'string[]', default: [], description: 'plugins (uri or id) whose absence fails the engine start' },
  'disabled-plugins': { type: 'string[]', default: [], description: 'plugins (uri or id) not to load' },
  codecs: {
    type: 'object',
    description: 'hashing/decompression backend per operation (auto = measured at first use)',
    fields: {
      sha256: { type: 'string', default: 'auto', enum: ['auto', 'wasm', 'native'], description: 'sha256 backend' },
      gunzip: { type: 'string', default: 'auto', enum: ['auto', 'wasm', 'native'], description: 'gzip backend' },
    },
  },
  plugins: { type: 'object', fields: {}, open: true, description: 'one section per plugin, keyed by id or uri' },
};

export interface EngineConfig {
  'storage-driver': string;
  isolation: string;
  'log-level': 'debug' | 'info' | 'warn' | 'error';
  registries: { mirrors: Record<string, string[]>; insecure: string[] };
  'required-plugins': string[];
  'disabled-plugins': string[];
  codecs: { sha256: 'auto' | 'wasm' | 'native'; gunzip: 'auto' | 'wasm' | 'native' };
  plugins: Record<string, unknown>;
}

export const DEFAULT_CONFIG_FILE = '/etc/berth/config.yaml';

/** Parses and validates a configuration text. `file` is used in error messages only. */
export function parseEngineConfig(text: string, file: string): EngineConfig {
  // Loaded lazily: the yaml parser costs ~25 ms of start-up and most runs have no config file.
  const YAML = require('yaml') as typeof import('yaml');
  let raw: unknown;
  try {
    const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) throw doc.errors[0];
    raw = doc.toJS();
  } catch (e) {
    throw ERR_CONFIG_PARSE.with({ cause: e }, file, (e as Error).message.split('\n')[0]);
  }
  return validateSection(ENGINE_SCHEMA, raw, '', file) as unknown as EngineConfig;
}

export function defaultEngineConfig(): EngineConfig {
  return validateSection(ENGINE_SCHEMA, {}, '', '<defaults>') as unknown as EngineConfig;
}

/** The plugin's section: by uri first, then by id. */
export function pluginSection(cfg: EngineConfig, uri: string, id: string): unknown {
  return cfg.plugins[uri] ?? cfg.plugins[id];
}
