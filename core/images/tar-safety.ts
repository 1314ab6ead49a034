/**
 * Path rules for layer tars: how an entry name becomes a path inside the layer root, and which
 * names and entry kinds are refused. Pure functions, no I/O (the I/O side is apply.ts).
 *
 * Vocabulary
 * - *entry path*: the tar name after cleaning: leading `/` removed (absolute names are taken
 *   relative to the root, as Docker does), empty and `.` components dropped, `..` resolved
 *   lexically. A `..` that would climb above the root is refused (ERR_LAYER_UNSAFE_PATH) — never
 *   clamped, so a malicious layer fails loudly instead of landing somewhere unexpected.
 * - *whiteout*: an entry whose last component starts with `.wh.`; `.wh..wh..opq` marks its
 *   directory opaque; other `.wh..wh.` names are AUFS bookkeeping and are ignored.
 *
 * Safety does not rest on lexical cleaning alone: apply.ts also refuses to traverse any symlink
 * while writing (every parent is a real directory it created or lstat-ed), and the native helper
 * opens each component with O_NOFOLLOW.
 */
import { defineError } from '../errors';

export const ERR_LAYER_UNSAFE_PATH = defineError('ERR_LAYER_UNSAFE_PATH', 'invalidArgument', 'layer entry %s: %s');
export const ERR_LAYER_UNSUPPORTED_ENTRY = defineError('ERR_LAYER_UNSUPPORTED_ENTRY', 'invalidArgument', 'layer entry %s: unsupported entry type %s');
export const ERR_LAYER_CORRUPT = defineError('ERR_LAYER_CORRUPT', 'invalidArgument', 'corrupt layer tar: %s');
export const ERR_LAYER_BAD_LINK = defineError('ERR_LAYER_BAD_LINK', 'invalidArgument', 'layer entry %s: hardlink target %s %s');

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

/** Longest single name component Linux accepts (NAME_MAX), in bytes. */
const NAME_MAX = 255;
/** Longest path we accept, in bytes (PATH_MAX). */
const PATH_MAX = 4096;

/**
 * Cleans a tar name into path components (empty array = the root itself). Throws
 * ERR_LAYER_UNSAFE_PATH for NUL bytes, escaping `..`, over-long names.
 */
export function cleanEntryPath(name: string, what = name): string[] {
  if (typeof name !== 'string') throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), 'name is not a string');
  if (name.includes('\0')) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), 'name contains a NUL byte');
  if (Buffer.byteLength(name) > PATH_MAX) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what.slice(0, 80) + '…'), `name longer than ${PATH_MAX} bytes`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), 'path escapes the layer root');
      out.pop();
      continue;
    }
    if (Buffer.byteLength(c) > NAME_MAX) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what.slice(0, 80) + '…'), `a name component is longer than ${NAME_MAX} bytes`);
    out.push(c);
  }
  return out;
}

/** Tar entry types (tar-stream names) apply knows how to write. */
export const SUPPORTED_TYPES = new Set(['file', 'contiguous-file', 'link', 'symlink', 'directory', 'character-device', 'block-device', 'fifo']);

/** PAX keys that mean the entry's data is not a plain byte stream (GNU sparse formats). */
export function unsupportedPaxKey(pax: Record<string, string> | null | undefined): string | undefined {
  if (!pax) return undefined;
  for (const k of Object.keys(pax)) if (k.startsWith('GNU.sparse.')) return k;
  return undefined;
}

/** Classifies a last path component: a regular name, a whiteout of `target`, opaque, or AUFS meta. */
export type WhiteoutKind = { kind: 'none' } | { kind: 'opaque' } | { kind: 'meta' } | { kind: 'whiteout'; target: string };

export function whiteoutOf(base: string | undefined, what: string): WhiteoutKind {
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === WHITEOUT_OPAQUE) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..' || target.includes('/')) {
    throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `whiteout names ${JSON.stringify(target)}`);
  }
  return { kind: 'whiteout', target };
}

/** Parses a PAX numeric field (uid/gid) or returns the header value. */
export function paxId(pax: Record<string, string> | null | undefined, key: 'uid' | 'gid', fallback: number, what: string): number {
  const v = pax?.[key];
  if (v === undefined) return fallback;
  if (!/^\d{1,10}$/.test(v) || Number(v) > 0xfffffffe) throw ERR_LAYER_CORRUPT(`entry ${JSON.stringify(what)}: bad PAX ${key} ${JSON.stringify(v)}`);
  return Number(v);
}

/** Parses a PAX time (`1700000000.123456789`) into seconds, or returns undefined. */
export function paxTime(pax: Record<string, string> | null | undefined, key: 'mtime' | 'atime', what: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  if (!/^-?\d{1,15}(\.\d+)?$/.test(v)) throw ERR_LAYER_CORRUPT(`entry ${JSON.stringify(what)}: bad PAX ${key} ${JSON.stringify(v)}`);
  return Number(v);
}

/** Collects `SCHILY.xattr.NAME` (and raw-preserved copies, see apply.ts) from a PAX record. */
export function paxXattrs(pax: Record<string, string> | null | undefined): Array<[string, Buffer]> {
  if (!pax) return [];
  const out: Array<[string, Buffer]> = [];
  for (const [k, v] of Object.entries(pax)) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const name = k.slice('SCHILY.xattr.'.length);
    if (name === '' || name.includes('\0')) continue;
    const raw = pax[RAW_XATTR_PREFIX + name];
    out.push([name, raw !== undefined ? Buffer.from(raw, 'base64') : Buffer.from(v, 'utf8')]);
  }
  return out;
}

/** Key under which apply's PAX decoder keeps the exact bytes of an xattr value (base64). */
export const RAW_XATTR_PREFIX = 'BERTH.raw.SCHILY.xattr.';
