/**
 * SHA-256 over the WebAssembly module built from wasm/assembly/sha256.ts.
 *
 *   const h = createSha256(); h.update(a); h.update(b); h.digest('hex')
 *
 * Data is copied into the module's 256 KiB input buffer in large pieces (one `set` into a cached
 * view of WASM memory and one `update` call per 256 KiB); the hash state and the partial block live
 * in WASM memory. Shaped like node:crypto's Hash for the subset berth uses.
 */
import { BaseExports, instantiate } from './loader';

export interface Sha256Exports extends BaseExports {
  inputPtr(): number;
  inputCap(): number;
  init(): void;
  update(len: number): void;
  final(): number;
}

/** The hash object both backends return (node:crypto's Hash satisfies it too). */
export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Buffer;
  digest(encoding: 'hex' | 'base64'): string;
}

export class WasmSha256 implements Hasher {
  private readonly ex: Sha256Exports;
  private readonly cap: number;
  /** View of the input buffer (the module never grows its memory, so the view stays attached). */
  private readonly input: Uint8Array;
  private done = false;

  constructor() {
    this.ex = instantiate<Sha256Exports>('sha256');
    this.cap = this.ex.inputCap();
    this.input = new Uint8Array(this.ex.memory.buffer, this.ex.inputPtr(), this.cap);
    this.ex.init();
  }

  update(data: Uint8Array): this {
    if (this.done) throw new Error('sha256: update after digest');
    const { ex, input, cap } = this;
    const len = data.length;
    if (len <= cap) {
      input.set(data);
      ex.update(len);
      return this;
    }
    for (let off = 0; off < len; off += cap) {
      const n = Math.min(cap, len - off);
      input.set(data.subarray(off, off + n));
      ex.update(n);
    }
    return this;
  }

  digest(): Buffer;
  digest(encoding: 'hex' | 'base64'): string;
  digest(encoding?: 'hex' | 'base64'): Buffer | string {
    if (this.done) throw new Error('sha256: digest already called');
    this.done = true;
    const p = this.ex.final();
    const out = Buffer.from(new Uint8Array(this.ex.memory.buffer, p, 32));
    return encoding ? out.toString(encoding) : out;
  }
}

export function createSha256(): WasmSha256 {
  return new WasmSha256();
}

/** One-shot SHA-256 of `data`. */
export function sha256(data: Uint8Array): Buffer {
  return createSha256().update(data).digest();
}
