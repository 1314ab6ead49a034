/**
 * Registry credentials stored the way Docker stores them, so `berth login` and `docker login`
 * share one file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
 *
 *   { "auths": { "127.0.0.1:5000": { "auth": "<base64 user:password>" },
 *                "https://index.docker.io/v1/": { "auth": "…" } },
 *     "credsStore": "pass",                        // optional: a helper for every registry
 *     "credHelpers": { "gcr.io": "gcloud" } }      // optional: a helper per registry
 *
 * Vocabulary
 * - *server key*: the `auths` key and the server URL handed to helpers. Docker Hub's is
 *   `https://index.docker.io/v1/`; any other registry's is its `host[:port]` (a key written with a
 *   scheme or a `/v2/` suffix by other tools is matched too).
 * - *credential helper*: the program `docker-credential-<name>` (found on PATH) that
 *   `credHelpers[<host>]`, else `credsStore`, names. Protocol (docker-credential-helpers):
 *   `get` with the server URL on stdin prints `{"ServerURL","Username","Secret"}` (Username
 *   `<token>`: Secret is an identity token); `store` reads that JSON on stdin; `erase` reads the
 *   server URL. "credentials not found" on stdout with a non-zero exit means none.
 *
 * Lookup for a host: its helper when one is configured (`credentials not found` → the `auths`
 * entry's inline credentials, if any, as written by other tools); else the `auths` entry. Login
 * with a helper stores the secret through it and leaves only an empty `auths` entry in the file
 * (as Docker does); logout erases it from the helper and the file.
 *
 * Helper failures are ERR_AUTH_HELPER_NOT_FOUND (no such program on PATH) or
 * ERR_AUTH_HELPER_FAILED (non-zero exit other than "not found", unreadable output, timeout), with
 * the program name, the action and its stderr; the secret is never part of a message.
 * Other keys of the file are preserved on write; the file is written atomically with mode 0600.
 */
import { spawn } from 'node:child_process';
import { readFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defineError } from '../errors';
import { writeFileAtomic } from '../store/atomic';
import type { Credentials } from '../contracts/image-transport';

export const ERR_AUTH_CONFIG_INVALID = defineError('ERR_AUTH_CONFIG_INVALID', 'invalidArgument', '%s: %s');
export const ERR_AUTH_NOT_LOGGED_IN = defineError('ERR_AUTH_NOT_LOGGED_IN', 'notFound', 'not logged in to %s');
export const ERR_AUTH_HELPER_NOT_FOUND = defineError('ERR_AUTH_HELPER_NOT_FOUND', 'failedPrecondition', 'credential helper %s (%s in %s) not found in PATH');
export const ERR_AUTH_HELPER_FAILED = defineError('ERR_AUTH_HELPER_FAILED', 'unavailable', 'credential helper %s %s for %s failed: %s');

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigFile(): string {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

const HELPER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HELPER_TIMEOUT_MS = 120_000;
const NOT_FOUND_RE = /credentials not found/i;

/** The helper configured for a host (`credHelpers` first, then `credsStore`), if any. */
function helperFor(cfg: DockerConfig, host: string, file: string): { name: string; where: string } | undefined {
  const want = normalizeServer(host);
  let found: { name: string; where: string } | undefined;
  if (cfg.credHelpers !== undefined && (typeof cfg.credHelpers !== 'object' || cfg.credHelpers === null || Array.isArray(cfg.credHelpers))) {
    throw ERR_AUTH_CONFIG_INVALID(file, 'credHelpers is not an object');
  }
  for (const [k, v] of Object.entries(cfg.credHelpers ?? {})) {
    if (normalizeServer(k) === want) found = { name: v, where: `credHelpers.${k}` };
  }
  if (!found && cfg.credsStore !== undefined && cfg.credsStore !== '') found = { name: cfg.credsStore, where: 'credsStore' };
  if (!found) return undefined;
  if (typeof found.name !== 'string' || !HELPER_NAME_RE.test(found.name)) {
    throw ERR_AUTH_CONFIG_INVALID(file, `${found.where} must name a helper (docker-credential-<name>), not ${JSON.stringify(found.name)}`);
  }
  return found;
}

/** Removes every occurrence of `secret` (≥ 1 char) from `text`. */
function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('<redacted>') : text;
}

/** Keeps helper output short enough for an error message. */
function clip(text: string): string {
  const t = text.trim();
  return t.length > 2000 ? `${t.slice(0, 2000)}…` : t;
}

interface HelperRun { code: number; stdout: string; stderr: string }

/**
 * Runs `docker-credential-<name> <action>` with `input` on stdin. Rejects with
 * ERR_AUTH_HELPER_NOT_FOUND when the program is not on PATH, ERR_AUTH_HELPER_FAILED on a signal
 * or timeout; a non-zero exit is returned for the caller to interpret.
 */
function runHelper(helper: { name: string; where: string }, action: 'get' | 'store' | 'erase', server: string, input: string, file: string, secret?: string): Promise<HelperRun> {
  const prog = `docker-credential-${helper.name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(prog, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer, not spawn's `timeout`: that one is not cleared when the spawn fails (ENOENT)
    // and would keep the process alive for the whole timeout.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, HELPER_TIMEOUT_MS);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // a helper that exits without reading stdin
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') reject(ERR_AUTH_HELPER_NOT_FOUND.with({ cause: e }, prog, helper.where, file));
      else reject(ERR_AUTH_HELPER_FAILED.with({ cause: e }, prog, action, server, e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = redact(Buffer.concat(err).toString('utf8'), secret);
      if (code === null) {
        const why = timedOut ? `timed out after ${HELPER_TIMEOUT_MS / 1000} s` : `killed by ${signal}`;
        reject(ERR_AUTH_HELPER_FAILED(prog, action, server, why + (stderr.trim() ? `; stderr: ${clip(stderr)}` : '')));
        return;
      }
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The error for a helper's non-zero exit: its stdout (the protocol's error message) and stderr. */
function helperFailure(helper: { name: string }, action: string, server: string, r: HelperRun, secret?: string) {
  const parts = [`exit status ${r.code}`];
  const msg = clip(redact(r.stdout, secret));
  if (msg) parts.push(`output: ${msg}`);
  if (r.stderr.trim()) parts.push(`stderr: ${clip(r.stderr)}`);
  return ERR_AUTH_HELPER_FAILED(`docker-credential-${helper.name}`, action, server, parts.join('; '));
}

/** `get` through a helper; undefined when it has none for `server`. */
async function helperGet(helper: { name: string; where: string }, server: string, file: string): Promise<Credentials | undefined> {
  const r = await runHelper(helper, 'get', server, server, file);
  if (r.code !== 0) {
    if (NOT_FOUND_RE.test(r.stdout)) return undefined;
    // On failure stdout is the helper's error message, never credentials.
    throw helperFailure(helper, 'get', server, r);
  }
  let j: { Username?: unknown; Secret?: unknown };
  try {
    j = JSON.parse(r.stdout) as { Username?: unknown; Secret?: unknown };
    if (typeof j !== 'object' || j === null) throw new Error('not an object');
  } catch {
    // Never quote the output: it may hold the secret.
    throw ERR_AUTH_HELPER_FAILED(`docker-credential-${helper.name}`, 'get', server, `its output (${r.stdout.length} bytes) is not the JSON {"ServerURL","Username","Secret"}`);
  }
  const username = typeof j.Username === 'string' ? j.Username : '';
  const secret = typeof j.Secret === 'string' ? j.Secret : '';
  if (username === '' && secret === '') return undefined;
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
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

/** Inline credentials of the host's `auths` entry (as `docker login` without a helper writes them). */
function fileCredentials(cfg: DockerConfig, host: string, file: string): Credentials | undefined {
  const want = normalizeServer(host);
  for (const [k, v] of Object.entries(cfg.auths ?? {})) {
    if (normalizeServer(k) !== want || typeof v !== 'object' || v === null) continue;
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

/**
 * The credentials for a registry host: through its credential helper when one is configured
 * (falling back to inline `auths` credentials when the helper has none), else from `auths`.
 */
export async function getCredentials(host: string, file = dockerConfigFile()): Promise<Credentials | undefined> {
  const cfg = await readConfig(file);
  const helper = helperFor(cfg, host, file);
  if (helper) {
    const got = await helperGet(helper, serverKey(host), file);
    if (got) return got;
  }
  return fileCredentials(cfg, host, file);
}

/** Where `storeCredentials` put the secret: the file, or the named helper program. */
export async function storeCredentials(host: string, creds: { username: string; password: string }, file = dockerConfigFile()): Promise<{ helper?: string }> {
  const cfg = await readConfig(file);
  const key = serverKey(host);
  const helper = helperFor(cfg, host, file);
  if (helper) {
    const input = JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password });
    const r = await runHelper(helper, 'store', key, input, file, creds.password);
    if (r.code !== 0) throw helperFailure(helper, 'store', key, r, creds.password);
  }
  const auths = { ...(cfg.auths ?? {}) };
  for (const k of Object.keys(auths)) if (normalizeServer(k) === normalizeServer(host)) delete auths[k];
  // With a helper the file only records that there is a login (Docker writes the same empty entry).
  auths[key] = helper ? {} : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify({ ...cfg, auths }, null, '\t') + '\n', 0o600);
  return helper ? { helper: `docker-credential-${helper.name}` } : {};
}

/** Removes the host's credentials (from its helper and the file); false when there were none. */
export async function removeCredentials(host: string, file = dockerConfigFile()): Promise<boolean> {
  const cfg = await readConfig(file);
  const helper = helperFor(cfg, host, file);
  let found = false;
  if (helper) {
    const key = serverKey(host);
    const r = await runHelper(helper, 'erase', key, key, file);
    if (r.code === 0) found = true;
    else if (!NOT_FOUND_RE.test(r.stdout)) throw helperFailure(helper, 'erase', key, r);
  }
  const auths = { ...(cfg.auths ?? {}) };
  let inFile = false;
  for (const k of Object.keys(auths)) {
    if (normalizeServer(k) === normalizeServer(host)) {
      delete auths[k];
      inFile = true;
    }
  }
  if (inFile) await writeFileAtomic(file, JSON.stringify({ ...cfg, auths }, null, '\t') + '\n', 0o600);
  return found || inFile;
}
