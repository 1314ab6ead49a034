/**
 * Finds, compiles (once per process) and instantiates the modules built by `wasm/build.js`.
 *
 * The build directory is the first `wasm/build` found walking up from this file (else
 * `<package root>/wasm/build`); this works from `wasm/src/*.ts` (tests run the sources) and from
 * `dist/wasm/src/*.js` (compiled, tsc outDir `dist`). `BERTH_WASM_DIR` overrides it and
 * `BERTH_WASM_DEBUG=1` loads the debug builds (`<name>.debug.wasm`, assertions on).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERR_WASM_ABORT, ERR_WASM_UNAVAILABLE } from './errors';

/*
 * Minimal typings of the WebAssembly JS API: @types/node 20 does not declare the global and the
 * project's lib is ES2022 without DOM.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
export type WasmModule = object;
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}
const WA: WebAssemblyApi | undefined = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

/** Exports every module shares: its memory. */
export interface BaseExports {
  readonly memory: WasmMemory;
}

let buildDir: string | undefined;

export function wasmBuildDir(): string {
  if (buildDir !== undefined) return buildDir;
  const override = process.env.BERTH_WASM_DIR;
  if (override) return (buildDir = override);
  // the first ancestor holding wasm/build, else the first holding package.json (the package root)
  let dir = __dirname;
  let root: string | undefined;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'wasm', 'build'))) {
      root = dir;
      break;
    }
    if (root === undefined && fs.existsSync(path.join(dir, 'package.json'))) root = dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  dir = root ?? path.resolve(__dirname, '..', '..');
  return (buildDir = path.join(dir, 'wasm', 'build'));
}

const modules = new Map<string, WasmModule>();

function moduleKey(name: string): string {
  return process.env.BERTH_WASM_DEBUG === '1' ? `${name}.debug` : name;
}

/**
 * Adopts a module compiled by another thread of this process (a WebAssembly.Module crosses
 * `postMessage` without a copy; V8 shares its compiled code, optimised tiers included), so a
 * decoder worker neither reads nor compiles the file again. Ignored if one is already loaded.
 */
export function adoptModule(name: string, mod: WasmModule): void {
  const key = moduleKey(name);
  if (!modules.has(key)) modules.set(key, mod);
}

export function wasmModule(name: string): WasmModule {
  if (WA === undefined) throw ERR_WASM_UNAVAILABLE(name, 'this runtime has no WebAssembly');
  const key = moduleKey(name);
  let mod = modules.get(key);
  if (mod === undefined) {
    const file = path.join(wasmBuildDir(), `${key}.wasm`);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw ERR_WASM_UNAVAILABLE.with({ cause: err }, name, `${file} not found; run \`npm run build:wasm\``);
    }
    try {
      mod = new WA.Module(bytes);
    } catch (err) {
      throw ERR_WASM_UNAVAILABLE.with({ cause: err }, name, (err as Error).message);
    }
    modules.set(key, mod);
  }
  return mod;
}

/** True when the module can be loaded on this host. */
export function wasmAvailable(name: string): boolean {
  try {
    wasmModule(name);
    return true;
  } catch {
    return false;
  }
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr - 4) out of memory. */
function readString(memory: WasmMemory, ptr: number): string {
  if (!ptr) return '';
  const u32 = new Uint32Array(memory.buffer);
  const len = u32[(ptr - 4) >>> 2] ?? 0;
  return Buffer.from(memory.buffer, ptr, len).toString('utf16le');
}

/**
 * Instances handed back by decoders that finished their stream cleanly, one per module, for the
 * next stream of this thread: no new memory to grow and fault in page by page (a zstd instance
 * holds its window, 2–8 MiB for common levels), and its code is already warm. Only instances
 * whose memory stayed at most SPARE_MAX_BYTES are kept (a 128 MiB window is not held forever).
 */
const spare = new Map<string, BaseExports>();
const SPARE_MAX_BYTES = 32 << 20;

/**
 * Hands an instance back for reuse. The caller must not touch it afterwards, and the module's
 * `init` must reset every piece of stream state (the decoders' do: see wasm/assembly).
 */
export function recycleInstance(name: string, ex: BaseExports): void {
  if (ex.memory.buffer.byteLength <= SPARE_MAX_BYTES) spare.set(moduleKey(name), ex);
}

/** A spare instance of `name` (see recycleInstance), else a fresh one. The caller re-inits it. */
export function reuseOrInstantiate<T extends BaseExports>(name: string): T {
  const key = moduleKey(name);
  const ex = spare.get(key);
  if (ex !== undefined) {
    spare.delete(key);
    return ex as T;
  }
  return instantiate<T>(name);
}

/** A fresh instance (own memory) of module `name`, typed by the caller's exports interface. */
export function instantiate<T extends BaseExports>(name: string): T {
  const ref: { memory?: WasmMemory } = {};
  const imports = {
    env: {
      abort(msg: number, file: number, line: number, col: number): never {
        const memory = ref.memory;
        const text = memory ? `${readString(memory, msg)} at ${readString(memory, file)}:${line}:${col}` : `at ${line}:${col}`;
        throw ERR_WASM_ABORT(name, text);
      },
    },
  };
  const mod = wasmModule(name);
  const instance = new WA!.Instance(mod, imports);
  const exports = instance.exports as unknown as T;
  ref.memory = exports.memory;
  return exports;
}
