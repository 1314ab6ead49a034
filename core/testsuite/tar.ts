/**
 * A raw tar writer for tests: every header byte under the test's control, so suites can build
 * both ordinary layers and malicious ones (PAX records with NUL bytes, GNU long names, sparse
 * and other unsupported typeflags, bad checksums) without shelling out to tar(1).
 *
 *   const tar = buildTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', data: '127.0.0.1 localhost\n' }]);
 *   await driver.apply(key, Readable.from([tar]));
 */
export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  name: string;
  /** A symbolic type or a raw one-character typeflag ('S', 'D', 'M', 'V', 'x' …). Default 'file'. */
  type?: TarType | string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  data?: Buffer | string;
  /** Size written in the header (default: the data length). */
  size?: number;
  /** Extra PAX records (written in a PAX header before the entry). */
  pax?: Record<string, string | Buffer>;
  /** Put a long name in a GNU 'L' record instead of PAX. */
  gnuLongName?: boolean;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

const TYPEFLAGS: Record<string, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0').slice(-(len - 1)) + '\0', off, len, 'latin1');
}

function header(e: { name: Buffer; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: Buffer; devmajor: number; devminor: number; badChecksum?: boolean }): Buffer {
  const h = Buffer.alloc(512);
  e.name.copy(h, 0, 0, Math.min(100, e.name.length));
  octal(h, 100, 8, e.mode);
  octal(h, 108, 8, e.uid);
  octal(h, 116, 8, e.gid);
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, e.mtime);
  h.write(e.typeflag, 156, 1, 'latin1');
  e.linkname.copy(h, 157, 0, Math.min(100, e.linkname.length));
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  octal(h, 329, 8, e.devmajor);
  octal(h, 337, 8, e.devminor);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  if (e.badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function pad(data: Buffer): Buffer[] {
  const rem = data.length % 512;
  return rem === 0 ? [data] : [data, Buffer.alloc(512 - rem)];
}

function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** One entry (with its PAX / GNU long-name preamble), padded to 512-byte blocks. */
export function tarEntry(e: TarEntry): Buffer {
  const parts: Buffer[] = [];
  const name = Buffer.from(e.name);
  const link = Buffer.from(e.linkname ?? '');
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
  const pax: Record<string, string | Buffer> = { ...(e.pax ?? {}) };
  const base = { mode: e.mode ?? (e.type === 'dir' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? 1_600_000_000, devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0 };
  if (name.length > 100) {
    if (e.gnuLongName) {
      const body = Buffer.concat([name, Buffer.alloc(1)]);
      parts.push(header({ ...base, name: Buffer.from('././@LongLink'), typeflag: 'L', size: body.length, linkname: Buffer.alloc(0) }), ...pad(body));
    } else if (pax.path === undefined) {
      pax.path = e.name;
    }
  }
  if (link.length > 100 && pax.linkpath === undefined) pax.linkpath = e.linkname ?? '';
  const keys = Object.keys(pax);
  if (keys.length) {
    const body = Buffer.concat(keys.map((k) => paxRecord(k, pax[k]!)));
    parts.push(header({ ...base, name: Buffer.from('PaxHeader'), typeflag: 'x', size: body.length, linkname: Buffer.alloc(0) }), ...pad(body));
  }
  const t = e.type ?? 'file';
  const typeflag = TYPEFLAGS[t] ?? t;
  parts.push(header({ ...base, name, typeflag, size: e.size ?? data.length, linkname: link, ...(e.badChecksum ? { badChecksum: true } : {}) }));
  if (data.length) parts.push(...pad(data));
  return Buffer.concat(parts);
}

/** A complete archive: the entries followed by the two zero end blocks. */
export function buildTar(entries: TarEntry[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]);
}
