/**
 * The layer apply's tar reader: splits an uncompressed tar stream into entries and hands each
 * one to a handler synchronously — header, then its data as views into the input chunks, then
 * its end — with no stream, promise or object per entry in between.
 *
 *   const reader = new TarReader(handler);   // handler: { start(h), data(buf), end() }
 *   for (const chunk of chunks) await reader.write(chunk);   // a promise only when start() waits
 *   reader.end();                                             // throws on a truncated tar
 *
 * The headers themselves are decoded by tar-stream's own codec (`headers.js`: ustar, GNU and
 * base-256 numbers, checksums, PAX records, GNU long names), exactly as tar-stream's `extract()`
 * decodes them, so every entry a layer yields is the one `extract()` would give, with the same
 * names, types and PAX fields. What is ours is only the framing around it, which follows
 * `extract()` rule for rule (record 030, "Session 6"):
 * - a block of zeros is skipped and reading goes on (the end-of-archive marker, and whatever
 *   follows it must again be valid headers or zeros);
 * - `pax-header` records apply to the next entry (merged over the last `pax-global-header`):
 *   `path`, `linkpath` and `size` replace the header's; GNU long names and link names likewise;
 *   a long header of more than 4 MiB is refused, one of 0 bytes changes nothing;
 * - an entry of a type that has no data (directory, symlink, hardlink, device, fifo) has none
 *   whatever its size field says: the next block is a header. That is how Go's archive/tar,
 *   which Docker and containerd apply layers with, reads them; extract() reads a symlink's or
 *   link's "data" and never ends a directory that declares a size (its stream waits forever);
 * - the input ending inside a header, an entry's data or its padding is a corrupt tar.
 * Why not `extract()` itself: it makes a streamx Readable per entry and the async iteration hops
 * through several promises per entry; for a layer of 7,862 small files that was ≈ 100 ms of CPU
 * more, on the critical thread of a pull, than this framing (record 030).
 *
 * Errors: ERR_LAYER_CORRUPT for a bad header or a truncated tar; whatever the handler throws,
 * as it threw it. After an error the reader must not be used again.
 */
import * as path from 'node:path';
import { ERR_LAYER_CORRUPT } from './tar-safety';

/** An entry's header as tar-stream's codec decodes it (with the PAX and long-name fields applied). */
export interface TarHeader {
  name: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: Date;
  type?: string | null;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string> | null;
}

/** What a TarReader drives, entry by entry. */
export interface TarEntryHandler {
  /**
   * A new entry. Its data (if any) follows through data() once this returns — or, when it
   * returns a promise, once that resolves (the reader reads nothing meanwhile; a rejection is
   * the reader's error).
   */
  start(header: TarHeader): void | Promise<void>;
  /** The entry's next bytes: a view into the input, valid only during the call. */
  data(chunk: Buffer): void;
  /** All of the entry's data has been given (called for entries without data too). */
  end(): void;
}

/** tar-stream's header codec (a file of the package, not in its exports map). */
interface HeaderCodec {
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): (TarHeader & { size: number }) | null;
  decodePax(buf: Buffer): Record<string, string>;
  decodeLongPath(buf: Buffer, encoding: string): string;
}

let codec: HeaderCodec | undefined;
/** tar-stream's `headers.js`, resolved next to its main file (the same module apply.ts patches). */
export function tarHeaderCodec(): HeaderCodec {
  codec ??= require(path.join(path.dirname(require.resolve('tar-stream')), 'headers.js')) as HeaderCodec;
  return codec;
}

const BLOCK = 512;
/** The largest PAX or GNU long-name record accepted (tar-stream's limit). */
const MAX_LONG_HEADER = 4 << 20;

/** Entry types whose size field is ignored: they never have data (Go's archive/tar `isHeaderOnlyType`). */
const HEADER_ONLY = new Set(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);

type LongType = 'gnu-long-path' | 'gnu-long-link-path' | 'pax-global-header' | 'pax-header';

export class TarReader {
  private readonly codec = tarHeaderCodec();
  /** A header split across input chunks is gathered here. */
  private readonly partial = Buffer.allocUnsafe(BLOCK);
  private partialFill = 0;
  /** Bytes of the current entry's data (or long header) still to come. */
  private missing = 0;
  /** Padding bytes after them, up to the next 512-byte boundary. */
  private padding = 0;
  /** The data being read belongs to an entry (else to `long`). */
  private inEntry = false;
  private long: { type: LongType; buf: Buffer; fill: number } | undefined;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;
  private gnuLongPath: string | null = null;
  private gnuLongLinkPath: string | null = null;

  constructor(private readonly handler: TarEntryHandler) {}

  /**
   * Reads `chunk`. Returns a promise only when the handler made it wait; the next chunk must
   * not be written before it resolves.
   */
  write(chunk: Buffer): void | Promise<void> {
    return this.read(chunk, 0);
  }

  /** The input is over: throws ERR_LAYER_CORRUPT when it stopped inside a header or an entry. */
  end(): void {
    if (this.missing > 0 || this.padding > 0 || this.partialFill > 0) throw ERR_LAYER_CORRUPT('Unexpected end of data');
  }

  private read(chunk: Buffer, off: number): void | Promise<void> {
    const n = chunk.length;
    while (off < n) {
      if (this.missing > 0) {
        const k = Math.min(this.missing, n - off);
        if (this.inEntry) {
          this.handler.data(chunk.subarray(off, off + k));
        } else {
          const long = this.long!;
          chunk.copy(long.buf, long.fill, off, off + k);
          long.fill += k;
        }
        this.missing -= k;
        off += k;
        if (this.missing === 0) this.dataDone();
        continue;
      }
      if (this.padding > 0) {
        const k = Math.min(this.padding, n - off);
        this.padding -= k;
        off += k;
        continue;
      }
      let block: Buffer;
      if (this.partialFill === 0 && n - off >= BLOCK) {
        block = chunk.subarray(off, off + BLOCK);
        off += BLOCK;
      } else {
        const k = Math.min(BLOCK - this.partialFill, n - off);
        chunk.copy(this.partial, this.partialFill, off, off + k);
        this.partialFill += k;
        off += k;
        if (this.partialFill < BLOCK) continue;
        this.partialFill = 0;
        block = this.partial;
      }
      const wait = this.header(block);
      if (wait) {
        const rest = off;
        return wait.then(() => this.read(chunk, rest));
      }
    }
  }

  /** One header block: a long header to collect, an entry to start, or zeros to skip. */
  private header(block: Buffer): void | Promise<void> {
    let h: (TarHeader & { size: number }) | null;
    try {
      h = this.codec.decode(block, 'utf-8', false);
    } catch (err) {
      throw ERR_LAYER_CORRUPT.with({ cause: err }, (err as Error).message);
    }
    if (h === null) return; // a zero block
    const type = h.type;
    if (type === 'gnu-long-path' || type === 'gnu-long-link-path' || type === 'pax-global-header' || type === 'pax-header') {
      if (!(h.size >= 0)) throw ERR_LAYER_CORRUPT('Invalid header');
      if (h.size > MAX_LONG_HEADER) throw ERR_LAYER_CORRUPT(`a ${type} record of ${h.size} bytes (at most ${MAX_LONG_HEADER})`);
      if (h.size === 0) return;
      this.long = { type, buf: Buffer.allocUnsafe(h.size), fill: 0 };
      this.inEntry = false;
      this.expect(h.size);
      return;
    }
    this.applyLongHeaders(h);
    if (!(h.size >= 0)) throw ERR_LAYER_CORRUPT('Invalid header');
    const size = type !== undefined && type !== null && HEADER_ONLY.has(type) ? 0 : h.size;
    this.inEntry = true;
    this.expect(size);
    const wait = this.handler.start(h);
    if (size > 0) return wait;
    if (wait) return wait.then(() => this.dataDone());
    this.dataDone();
  }

  private expect(size: number): void {
    this.missing = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  /** The current entry's data, or the long header, is complete. */
  private dataDone(): void {
    if (this.inEntry) {
      this.inEntry = false;
      this.handler.end();
      return;
    }
    const long = this.long!;
    this.long = undefined;
    try {
      switch (long.type) {
        case 'gnu-long-path':
          this.gnuLongPath = this.codec.decodeLongPath(long.buf, 'utf-8');
          break;
        case 'gnu-long-link-path':
          this.gnuLongLinkPath = this.codec.decodeLongPath(long.buf, 'utf-8');
          break;
        case 'pax-global-header':
          this.paxGlobal = this.codec.decodePax(long.buf);
          break;
        case 'pax-header':
          this.pax = this.paxGlobal === null ? this.codec.decodePax(long.buf) : Object.assign({}, this.paxGlobal, this.codec.decodePax(long.buf));
          break;
      }
    } catch (err) {
      throw ERR_LAYER_CORRUPT.with({ cause: err }, `${long.type}: ${(err as Error).message}`);
    }
  }

  private applyLongHeaders(h: TarHeader & { size: number }): void {
    if (this.gnuLongPath) {
      h.name = this.gnuLongPath;
      this.gnuLongPath = null;
    }
    if (this.gnuLongLinkPath) {
      h.linkname = this.gnuLongLinkPath;
      this.gnuLongLinkPath = null;
    }
    if (this.pax) {
      if (this.pax.path) h.name = this.pax.path;
      if (this.pax.linkpath) h.linkname = this.pax.linkpath;
      if (this.pax.size) h.size = parseInt(this.pax.size, 10);
      h.pax = this.pax;
      this.pax = null;
    }
  }
}
