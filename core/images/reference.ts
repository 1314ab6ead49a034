/**
 * Image references, parsed and normalised exactly as Docker does (the grammar of
 * github.com/distribution/reference, `ParseNormalizedNamed` + `TagNameOnly`).
 *
 * Vocabulary
 * - *domain*: the registry host, `[a-zA-Z0-9-.]+` components with an optional `:port`, or an
 *   IPv6 literal in brackets. A name's first component is a domain only when it contains `.` or
 *   `:`, or is `localhost` (or has an upper-case letter, which a path component cannot have);
 *   otherwise the domain is `docker.io`.
 * - *path*: the repository inside the registry, lower-case components `[a-z0-9]+` joined by
 *   `.`, `_`, `__` or runs of `-`, separated by `/`. On docker.io a single component gets the
 *   `library/` prefix (`ubuntu` → `library/ubuntu`).
 * - *tag*: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; `latest` when neither tag nor digest is given.
 * - *digest*: `algorithm:hex`; for sha256 exactly 64 lower-case hex digits.
 * - *familiar name*: the short form Docker prints (`ubuntu`, `me/app`, `127.0.0.1:5000/x`).
 *
 * Lifecycle
 *   const r = parseReference('ubuntu');       // {domain:'docker.io', path:'library/ubuntu', tag:'latest'}
 *   r.name === 'docker.io/library/ubuntu'; familiarString(r) === 'ubuntu:latest'
 *   parseReference('Ubuntu')                  // throws ERR_IMAGE_INVALID_REFERENCE
 */
import { defineError } from '../errors';

export const ERR_IMAGE_INVALID_REFERENCE = defineError('ERR_IMAGE_INVALID_REFERENCE', 'invalidArgument', 'invalid reference format: %s');

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const host = `(?:${domainName}|${ipv6})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const remoteName = `${pathComponent}(?:/${pathComponent})*`;

const DOMAIN_RE = new RegExp(`^${domainAndPort}$`);
const PATH_RE = new RegExp(`^${remoteName}$`);
export const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host (`docker.io`, `127.0.0.1:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/ubuntu`). */
  path: string;
  tag?: string;
  digest?: string;
  /** `domain/path`. */
  readonly name: string;
}

function make(domain: string, path: string, tag?: string, digest?: string): Reference {
  const r: Reference = { domain, path, name: `${domain}/${path}` };
  if (tag !== undefined) r.tag = tag;
  if (digest !== undefined) r.digest = digest;
  return r;
}

/** Validates a digest string (`sha256:<64 hex>`, or another algorithm with ≥ 32 hex). */
export function isValidReferenceDigest(d: string): boolean {
  if (!DIGEST_RE.test(d)) return false;
  const [alg, hex] = d.split(':') as [string, string];
  if (alg === 'sha256') return /^[a-f0-9]{64}$/.test(hex);
  if (alg === 'sha512') return /^[a-f0-9]{128}$/.test(hex);
  return true;
}

function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses a user-typed reference (`ubuntu`, `me/app:1`, `host:5000/a/b@sha256:…`) into its
 * normalised form. No default tag is added: see `withDefaultTag`.
 */
export function parseNormalized(input: string): Reference {
  if (typeof input !== 'string' || input === '') throw ERR_IMAGE_INVALID_REFERENCE('empty reference');
  if (ANCHORED_ID_RE.test(input)) {
    throw ERR_IMAGE_INVALID_REFERENCE(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidReferenceDigest(digest)) throw ERR_IMAGE_INVALID_REFERENCE(`invalid digest ${JSON.stringify(digest)} in ${JSON.stringify(input)}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw ERR_IMAGE_INVALID_REFERENCE(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(input)}`);
  }
  if (rest === '') throw ERR_IMAGE_INVALID_REFERENCE(`repository name is empty in ${JSON.stringify(input)}`);
  const { domain, remainder } = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) throw ERR_IMAGE_INVALID_REFERENCE(`invalid registry host ${JSON.stringify(domain)} in ${JSON.stringify(input)}`);
  if (remainder.toLowerCase() !== remainder) {
    throw ERR_IMAGE_INVALID_REFERENCE(`repository name (${remainder}) must be lowercase`);
  }
  if (!PATH_RE.test(remainder)) throw ERR_IMAGE_INVALID_REFERENCE(`invalid repository name ${JSON.stringify(remainder)} in ${JSON.stringify(input)}`);
  if (domain.length + 1 + remainder.length > NAME_TOTAL_LENGTH_MAX) {
    throw ERR_IMAGE_INVALID_REFERENCE(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  return make(domain, remainder, tag, digest);
}

/** Adds `:latest` when the reference has neither tag nor digest (Docker's `TagNameOnly`). */
export function withDefaultTag(r: Reference): Reference {
  if (r.tag === undefined && r.digest === undefined) return make(r.domain, r.path, DEFAULT_TAG);
  return r;
}

/** Parses and adds the default tag: what `pull`, `run`, `tag` and `push` work with. */
export function parseReference(input: string): Reference {
  return withDefaultTag(parseNormalized(input));
}

/** `docker.io/library/ubuntu:latest`, `host/x@sha256:…`, `host/x:t@sha256:…`. */
export function referenceString(r: Reference): string {
  return `${r.name}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** The short repository name Docker prints: drops `docker.io/` and `library/`. */
export function familiarName(r: Pick<Reference, 'domain' | 'path'>): string {
  if (r.domain !== DEFAULT_DOMAIN) return `${r.domain}/${r.path}`;
  return r.path.startsWith(OFFICIAL_REPO_PREFIX) && r.path.indexOf('/', OFFICIAL_REPO_PREFIX.length) === -1 ? r.path.slice(OFFICIAL_REPO_PREFIX.length) : r.path;
}

/** `ubuntu:latest`, `127.0.0.1:5000/x@sha256:…`. */
export function familiarString(r: Reference): string {
  return `${familiarName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** `docker.io/library/ubuntu:latest` → `ubuntu:latest` (tag kept); used for RepoTags. */
export function familiarTagged(r: Reference): string {
  return `${familiarName(r)}:${r.tag ?? DEFAULT_TAG}`;
}

/** The stored repo-tag key: the full normalised `domain/path:tag`. */
export function tagKey(r: Reference): string {
  return `${r.name}:${r.tag ?? DEFAULT_TAG}`;
}

/** Parses a stored full `domain/path:tag` or `domain/path@digest`. */
export function parseStored(s: string): Reference {
  return parseNormalized(s);
}

/** True when `s` looks like an image id or a prefix of one (`sha256:` optional). */
export function looksLikeId(s: string): boolean {
  return /^(sha256:)?[a-f0-9]{1,64}$/.test(s);
}

/**
 * Docker's `reference=` filter match: the pattern is a path.Match glob against the familiar
 * name (with or without tag), e.g. `busy*`, `busybox:*`, `me/app:1`.
 */
export function matchesReferenceFilter(pattern: string, r: Reference): boolean {
  const familiar = familiarName(r);
  const candidates = [familiar, r.name];
  if (r.tag !== undefined) candidates.push(`${familiar}:${r.tag}`, `${r.name}:${r.tag}`);
  const re = globToRegExp(pattern);
  return candidates.some((c) => re.test(c));
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (const ch of glob) {
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
