/**
 * Registry credentials stored the way Docker stores them, so `berth login` and `docker login`
 * share one file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
 *
 *   { "auths": { "127.0.0.1:5000": { "auth": "<base64 user:password>" },
 *                "https://index.docker.io/v1/": { "auth": "…" } } }
 *
 * Vocabulary
 * - *server key*: the `auths` key. Docker Hub's is `https://index.docker.io/v1/`; any other
 *   registry's is its `host[:port]` (a key written with a scheme or a `/v2/` suffix by other tools
 *   is matched too).
 * - *credential helpers* (`credsStore`, `credHelpers`) are not run: berth reports that it cannot
 *   use them instead of silently ignoring them.
 * Other keys of the file are preserved on write; the file is written atomically with mode 0600.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defineError } from '../errors';
import { writeFileAtomic } from '../store/atomic';
import type { Credentials } from '../contracts/image-transport';

export const ERR_AUTH_CONFIG_INVALID = defineError('ERR_AUTH_CONFIG_INVALID', 'invalidArgument', '%s: %s');
export const ERR_AUTH_NOT_LOGGED_IN = defineError('ERR_AUTH_NOT_LOGGED_IN', 'notFound', 'not logged in to %s');

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigFile(): string {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  [k: string]: unknown;
}

async function readConfig(file: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  try {
    const j = JSON.parse(text) as DockerConfig;
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not a JSON object');
    return j;
  } catch (e) {
    throw ERR_AUTH_CONFIG_INVALID.with({ cause: e }, file, (e as Error).message);
  }
}

/** The `auths` key for a registry host (`docker.io` → Docker Hub's legacy URL). */
export function serverKey(host: string): string {
  const h = normalizeServer(host);
  return h === 'docker.io' ? DOCKER_HUB_KEY : h;
}

/** `https://127.0.0.1:5000/v2/` → `127.0.0.1:5000`; Docker Hub aliases → `docker.io`. */
export function normalizeServer(server: string): string {
  let s = server.trim().replace(/^https?:\/\//, '');
  s = s.replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io' || s === '') return 'docker.io';
  return s;
}

export async function getCredentials(host: string, file = dockerConfigFile()): Promise<Credentials | undefined> {
  const cfg = await readConfig(file);
  const want = normalizeServer(host);
  for (const [k, v] of Object.entries(cfg.auths ?? {})) {
    if (normalizeServer(k) !== want) continue;
    if (v.identitytoken) return { identityToken: v.identitytoken, ...(v.username ? { username: v.username } : {}) };
    if (v.auth) {
      const dec = Buffer.from(v.auth, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i < 0) throw ERR_AUTH_CONFIG_INVALID(file, `auths.${k}.auth is not base64 of user:password`);
      return { username: dec.slice(0, i), password: dec.slice(i + 1) };
    }
    if (v.username) return { username: v.username, password: v.password ?? '' };
  }
  return undefined;
}

export async function storeCredentials(host: string, creds: { username: string; password: string }, file = dockerConfigFile()): Promise<void> {
  const cfg = await readConfig(file);
  const auths = { ...(cfg.auths ?? {}) };
  for (const k of Object.keys(auths)) if (normalizeServer(k) === normalizeServer(host)) delete auths[k];
  auths[serverKey(host)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify({ ...cfg, auths }, null, '\t') + '\n', 0o600);
}

/** Removes the host's credentials; false when there were none. */
export async function removeCredentials(host: string, file = dockerConfigFile()): Promise<boolean> {
  const cfg = await readConfig(file);
  const auths = { ...(cfg.auths ?? {}) };
  let found = false;
  for (const k of Object.keys(auths)) {
    if (normalizeServer(k) === normalizeServer(host)) {
      delete auths[k];
      found = true;
    }
  }
  if (!found) return false;
  await writeFileAtomic(file, JSON.stringify({ ...cfg, auths }, null, '\t') + '\n', 0o600);
  return true;
}
