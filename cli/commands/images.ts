/**
 * Image commands, as Docker's CLI prints them: pull, push, tag, images / image ls, rmi,
 * image inspect, image prune, history, save, load, import, login, logout.
 *
 * Heavy modules (the image service, the registry client, tar) are required inside `run` only.
 * Each command served by the engine API also has a `remote` run (images-remote.ts) for
 * `berth -H HOST …`; the printing both share lives here, so the two outputs cannot drift.
 */
import type { CliCommand, CliContext } from '../command';
import type { Parsed } from '../kit/args';
import type { ImageRecord } from '../../core/images/service';
import { isoTime } from '../../core/time';

const kit = () => require('../kit') as typeof import('../kit');
const remote = () => require('./images-remote') as typeof import('./images-remote');
const svc = async (ctx: CliContext) => {
  const engine = await ctx.engine();
  const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
  return { engine, images: engine.use(imageService) };
};

const STORAGE = 'berth.storage.v1';
const TRANSPORT = 'berth.transport.v1';

const formatFlag = { name: 'format', type: 'string' as const, description: 'Format output using a custom template (\'table\', \'table TEMPLATE\', \'json\' or a Go template)' };

const pull: CliCommand = {
  spec: {
    name: 'pull',
    aliases: ['image pull'],
    usage: 'berth pull [OPTIONS] NAME[:TAG|@DIGEST]',
    description: 'Download an image from a registry',
    args: { min: 1, max: 1 },
    flags: [
      { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
      { name: 'all-tags', short: 'a', type: 'bool', description: 'Download all tagged images in the repository (not supported)', hidden: true },
      { name: 'insecure-registry', type: 'list', valueName: 'host', description: 'Reach this registry (host[:port]) over plain HTTP' },
    ],
  },
  plugins: [STORAGE, TRANSPORT],
  async run(ctx, p) {
    const { parseReference, referenceString } = require('../../core/images/reference') as typeof import('../../core/images/reference');
    const input = p.args[0]!;
    const quiet = p.bool('quiet');
    announceDefaultTag(ctx, input, quiet);
    const { engine } = await svc(ctx);
    const { pullImage } = require('../../core/images/pull') as typeof import('../../core/images/pull');
    const progress = kit().createProgress(ctx.stdout, { quiet });
    try {
      const platform = p.str('platform');
      await pullImage(engine, input, { progress, quiet, insecureRegistries: p.list('insecure-registry'), ...(platform ? { platform } : {}) });
    } finally {
      progress.close();
    }
    ctx.out(referenceString(parseReference(input)));
  },
  remote: (ctx, p) => remote().pull(ctx, p),
};

/** Docker's first line of a pull without a tag or digest (not with `-q`). */
export function announceDefaultTag(ctx: CliContext, input: string, quiet: boolean): void {
  const { parseNormalized } = require('../../core/images/reference') as typeof import('../../core/images/reference');
  const named = parseNormalized(input);
  if (!quiet && named.tag === undefined && named.digest === undefined) ctx.out('Using default tag: latest');
}

const push: CliCommand = {
  spec: {
    name: 'push',
    aliases: ['image push'],
    usage: 'berth push [OPTIONS] NAME[:TAG]',
    description: 'Upload an image to a registry',
    args: { min: 1, max: 1 },
    flags: [{ name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' }],
  },
  plugins: [STORAGE, TRANSPORT],
  async run(ctx, p) {
    const { engine } = await svc(ctx);
    const { pushImage } = require('../../core/images/push') as typeof import('../../core/images/push');
    const quiet = p.bool('quiet');
    const progress = kit().createProgress(ctx.stdout, { quiet });
    let res;
    try {
      res = await pushImage(engine, p.args[0]!, { progress });
    } finally {
      progress.close();
    }
    if (quiet) {
      const { referenceString } = require('../../core/images/reference') as typeof import('../../core/images/reference');
      ctx.out(referenceString({ ...res.ref, tag: res.tag }));
    }
  },
  remote: (ctx, p) => remote().push(ctx, p),
};

const tag: CliCommand = {
  spec: { name: 'tag', aliases: ['image tag'], usage: 'berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', args: { min: 2, max: 2 }, flags: [] },
  plugins: [],
  async run(ctx, p) {
    const { images } = await svc(ctx);
    await images.tag(p.args[0]!, p.args[1]!);
  },
  remote: (ctx, p) => remote().tag(ctx, p),
};

/** What a listing needs of an image: a record here, an API list item remotely. */
export type ListedImage = Pick<ImageRecord, 'id' | 'created' | 'size' | 'repoTags' | 'repoDigests'>;

interface Row {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

/** Docker's rows: one per repo tag; digest-only repos get `<none>`; untagged images `<none> <none>`. */
export function imageRows(list: ListedImage[], opts: { noTrunc: boolean; now?: number }): Row[] {
  const { humanSize, humanDuration, truncateId } = kit();
  const now = opts.now ?? Date.now();
  const rows: Row[] = [];
  for (const img of list) {
    const created = Date.parse(img.created);
    const base = {
      Containers: 'N/A',
      CreatedAt: formatCreatedAt(created),
      CreatedSince: Number.isFinite(created) ? `${humanDuration(Math.max(0, now - created))} ago` : 'N/A',
      ID: opts.noTrunc ? img.id : truncateId(img.id),
      SharedSize: 'N/A',
      Size: humanSize(img.size),
      UniqueSize: 'N/A',
      VirtualSize: humanSize(img.size),
    };
    const repoOf = (s: string, sep: string) => s.slice(0, s.lastIndexOf(sep));
    const digestFor = (repo: string) => {
      const d = img.repoDigests.find((x) => repoOf(x, '@') === repo);
      return d ? d.slice(d.lastIndexOf('@') + 1) : '<none>';
    };
    const repos = new Set<string>();
    for (const t of img.repoTags) {
      const repo = repoOf(t, ':');
      repos.add(repo);
      rows.push({ ...base, Repository: repo, Tag: t.slice(t.lastIndexOf(':') + 1), Digest: digestFor(repo) });
    }
    for (const d of img.repoDigests) {
      const repo = repoOf(d, '@');
      if (repos.has(repo)) continue;
      repos.add(repo);
      rows.push({ ...base, Repository: repo, Tag: '<none>', Digest: d.slice(d.lastIndexOf('@') + 1) });
    }
    if (!repos.size) rows.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
  }
  return rows;
}

function formatCreatedAt(ms: number): string {
  if (!Number.isFinite(ms)) return 'N/A';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000 UTC`;
}

/** `images`' filters: `--filter`, and the REPOSITORY[:TAG] argument as a reference filter. */
export function listFilters(p: Parsed): Record<string, string[]> {
  const filters = parseFilters(p.list('filter'));
  if (p.args[0]) (filters.reference ??= []).push(p.args[0]);
  return filters;
}

/** `--filter k=v` (repeatable) → Docker's filters map. */
export function parseFilters(values: string[]): Record<string, string[]> {
  const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw ERR_USAGE(`bad format of filter (expected name=value)`);
    (out[v.slice(0, i).toLowerCase()] ??= []).push(v.slice(i + 1));
  }
  return out;
}

const images: CliCommand = {
  spec: {
    name: 'images',
    aliases: ['image ls', 'image list'],
    usage: 'berth images [OPTIONS] [REPOSITORY[:TAG]]',
    description: 'List images',
    args: { max: 1 },
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
      { name: 'digests', type: 'bool', description: 'Show digests' },
      { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: 'Filter output based on conditions provided' },
      formatFlag,
      { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
    ],
  },
  plugins: [],
  async run(ctx, p) {
    const { images: svcImages } = await svc(ctx);
    const filters = listFilters(p);
    printImages(ctx, p, await svcImages.list({ all: p.bool('all'), filters }));
  },
  remote: (ctx, p) => remote().images(ctx, p),
};

/** `images` output: the table, `-q`, `--digests`, `--format`. */
export function printImages(ctx: CliContext, p: Parsed, list: ListedImage[]): void {
  const rows = imageRows(list, { noTrunc: p.bool('no-trunc') });
  const quiet = p.bool('quiet');
  const fmt = p.str('format');
  const def = p.bool('digests')
    ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  if (quiet) {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.ID)) continue;
      seen.add(r.ID);
      ctx.out(r.ID);
    }
    return;
  }
  ctx.stdout.write(kit().formatList(rows, { ...(fmt !== undefined ? { format: fmt } : {}), defaultTableFormat: def, headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' } }));
}

const rmi: CliCommand = {
  spec: {
    name: 'rmi',
    aliases: ['image rm', 'image remove'],
    usage: 'berth rmi [OPTIONS] IMAGE [IMAGE...]',
    description: 'Remove one or more images',
    args: { min: 1 },
    flags: [
      { name: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
      { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
    ],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    const { images: svcImages } = await svc(ctx);
    return removeEach(ctx, p, (ref) => svcImages.remove(ref, { force: p.bool('force') }));
  },
  remote: (ctx, p) => remote().rmi(ctx, p),
};

/** rmi's output: `remove` for each named image, its untags and deletions printed in order. */
export function removeEach(ctx: CliContext, p: Parsed, remove: (ref: string) => Promise<Array<{ Untagged?: string; Deleted?: string }>>): Promise<number> {
  return eachImage(ctx, p.args, async (ref) => {
    for (const r of await remove(ref)) {
      if (r.Untagged) ctx.out(`Untagged: ${r.Untagged}`);
      if (r.Deleted) ctx.out(`Deleted: ${r.Deleted}`);
    }
  });
}

/** image inspect's output: `inspect` for each named image, then all of them as one document. */
export async function inspectEach(ctx: CliContext, p: Parsed, inspect: (ref: string) => Promise<Record<string, unknown>>): Promise<number> {
  const out: Record<string, unknown>[] = [];
  const code = await eachImage(ctx, p.args, async (ref) => void out.push(await inspect(ref)));
  for (const l of kit().formatInspect(out, p.str('format'))) ctx.out(l);
  return code;
}

/** Runs `op` for each named image as Docker's rmi and inspect do (cli/kit/each.ts). */
function eachImage(ctx: CliContext, refs: string[], op: (ref: string) => Promise<void>): Promise<number> {
  return kit().eachItem(ctx.err, refs, op);
}

const imageInspect: CliCommand = {
  spec: {
    name: 'image inspect',
    usage: 'berth image inspect [OPTIONS] IMAGE [IMAGE...]',
    description: 'Display detailed information on one or more images',
    args: { min: 1 },
    flags: [{ name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    const { engine, images: svcImages } = await svc(ctx);
    const { inspectImage } = require('../../core/images/inspect') as typeof import('../../core/images/inspect');
    return inspectEach(ctx, p, async (ref) => inspectImage(engine, await svcImages.stored(ref)));
  },
  remote: (ctx, p) => remote().imageInspect(ctx, p),
};

const history: CliCommand = {
  spec: {
    name: 'history',
    aliases: ['image history'],
    usage: 'berth history [OPTIONS] IMAGE',
    description: 'Show the history of an image',
    args: { min: 1, max: 1 },
    flags: [
      formatFlag,
      { name: 'human', short: 'H', type: 'bool', default: true, description: 'Print sizes and dates in human readable format' },
      { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
    ],
  },
  plugins: [],
  async run(ctx, p) {
    const { images: svcImages } = await svc(ctx);
    const img = await svcImages.stored(p.args[0]!);
    const { imageHistory } = require('../../core/images/inspect') as typeof import('../../core/images/inspect');
    printHistory(ctx, p, imageHistory(img).map((h, i) => ({ ...h, id: i === 0 ? img.id : '<missing>' })));
  },
  remote: (ctx, p) => remote().history(ctx, p),
};

/** One history step, newest first: `id` is the image's on the newest, `<missing>` below it. */
export interface HistoryStep {
  id: string;
  /** Milliseconds since the epoch; NaN when unknown. */
  created: number;
  createdBy: string;
  size: number;
  comment: string;
}

/**
 * Docker's history timestamps: RFC 3339 at whole seconds (the API's `Created` is Unix seconds),
 * `2024-01-01T00:00:00Z`; N/A when the image does not say.
 */
function rfc3339(ms: number): string {
  return Number.isFinite(ms) ? isoTime(Math.floor(ms / 1000) * 1000).replace(/\.000Z$/, 'Z') : 'N/A';
}

/** `history` output: the table, `-q`, `--format`, `-H`, `--no-trunc`. */
export function printHistory(ctx: CliContext, p: Parsed, steps: HistoryStep[]): void {
  const { humanSize, humanDuration, truncateId } = kit();
  const noTrunc = p.bool('no-trunc');
  const human = p.bool('human');
  const items = steps.map(({ id: stepId, createdBy, comment, created, size }) => {
    let by = createdBy;
    if (!noTrunc && [...by].length > 45) by = [...by].slice(0, 44).join('') + '…';
    const id = stepId === '<missing>' || noTrunc ? stepId : truncateId(stepId);
    return {
      ID: id,
      CreatedSince: human ? (Number.isFinite(created) ? `${humanDuration(Date.now() - created)} ago` : 'N/A') : rfc3339(created),
      CreatedAt: rfc3339(created),
      CreatedBy: by,
      Size: human ? humanSize(size) : String(size),
      Comment: comment,
    };
  });
  if (p.bool('quiet')) {
    for (const it of items) ctx.out(it.ID);
    return;
  }
  const fmt = p.str('format');
  ctx.stdout.write(kit().formatList(items, {
    ...(fmt !== undefined ? { format: fmt } : {}),
    defaultTableFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
    headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedBy: 'CREATED BY', CreatedAt: 'CREATED AT' },
  }));
}

const imagePrune: CliCommand = {
  spec: {
    name: 'image prune',
    usage: 'berth image prune [OPTIONS]',
    description: 'Remove unused images',
    args: { max: 0 },
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
      { name: 'filter', type: 'list', valueName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
      { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    ],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    if (!(await confirmPrune(ctx, p))) return;
    const { engine } = await svc(ctx);
    const { pruneImages } = require('../../core/images/prune') as typeof import('../../core/images/prune');
    const filters = parseFilters(p.list('filter'));
    const r = await pruneImages(engine, { all: p.bool('all'), filters });
    printPruned(ctx, r.deleted, r.reclaimed);
  },
  remote: (ctx, p) => remote().imagePrune(ctx, p),
};

/** Docker's prompt before an image prune (skipped with `-f`); true to go on. */
export async function confirmPrune(ctx: CliContext, p: Parsed): Promise<boolean> {
  if (p.bool('force')) return true;
  const warn = p.bool('all')
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  ctx.stdout.write(`${warn}\nAre you sure you want to continue? [y/N] `);
  const answer = await readLine(ctx.stdin);
  return /^y(es)?$/i.test(answer.trim());
}

/** What an image prune removed, as Docker prints it. */
export function printPruned(ctx: CliContext, deleted: Array<{ Untagged?: string; Deleted?: string }>, reclaimed: number): void {
  const lines = deleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`));
  if (lines.length) ctx.out(`Deleted Images:\n${lines.join('\n')}\n`);
  ctx.out(`Total reclaimed space: ${kit().humanSize(reclaimed)}`);
}

function readLine(stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) finish();
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    stdin.on('data', onData);
    stdin.on('end', finish);
  });
}

const save: CliCommand = {
  spec: {
    name: 'save',
    aliases: ['image save'],
    usage: 'berth save [OPTIONS] IMAGE [IMAGE...]',
    description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
    args: { min: 1 },
    flags: [
      { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
      { name: 'platform', type: 'string', description: 'Save only the given platform (accepted; images hold one platform)', hidden: true },
    ],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    const file = saveTarget(ctx, p);
    const { engine } = await svc(ctx);
    const { saveImages } = require('../../core/images/archive') as typeof import('../../core/images/archive');
    await writeSaved(ctx, file, (out) => saveImages(engine, p.args, out));
  },
  remote: (ctx, p) => remote().save(ctx, p),
};

/** `-o FILE`, or undefined for stdout — which must not be a terminal. */
export function saveTarget(ctx: CliContext, p: Parsed): string | undefined {
  const file = p.str('output');
  if (file === undefined && ctx.stdout.isTTY) {
    const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
    throw ERR_USAGE('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  return file;
}

/**
 * Runs `write` into `file` (a temporary name renamed into place once complete: a failed save
 * leaves no partial archive under the name asked for) or into stdout.
 */
export async function writeSaved(ctx: CliContext, file: string | undefined, write: (out: NodeJS.WritableStream) => Promise<void>): Promise<void> {
  if (file === undefined) return write(ctx.stdout);
  const { createWriteStream } = require('node:fs') as typeof import('node:fs');
  const { rename, rm } = require('node:fs/promises') as typeof import('node:fs/promises');
  const tmp = `${file}.berth-${process.pid}.tmp`;
  try {
    await write(createWriteStream(tmp));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

const load: CliCommand = {
  spec: {
    name: 'load',
    aliases: ['image load'],
    usage: 'berth load [OPTIONS]',
    description: 'Load an image from a tar archive or STDIN',
    args: { max: 0 },
    flags: [
      { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
    ],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    const input = loadSource(ctx, p);
    const { engine } = await svc(ctx);
    const { loadImages } = require('../../core/images/archive') as typeof import('../../core/images/archive');
    const res = await loadImages(engine, input);
    for (const l of res.loaded) {
      if (l.tags.length) for (const t of l.tags) ctx.out(`Loaded image: ${t}`);
      else ctx.out(`Loaded image ID: ${l.id}`);
    }
  },
  remote: (ctx, p) => remote().load(ctx, p),
};

/** `-i FILE`, else stdin — which must not be a terminal. */
export function loadSource(ctx: CliContext, p: Parsed): NodeJS.ReadableStream {
  const file = p.str('input');
  if (file !== undefined) {
    const { createReadStream } = require('node:fs') as typeof import('node:fs');
    return createReadStream(file, { highWaterMark: 1 << 20 });
  }
  if (ctx.stdin.isTTY) {
    const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
    throw ERR_USAGE('requested load from stdin, but stdin is empty');
  }
  return ctx.stdin;
}

const importCmd: CliCommand = {
  spec: {
    name: 'import',
    aliases: ['image import'],
    usage: 'berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
    description: 'Import the contents from a tarball to create a filesystem image',
    args: { min: 1, max: 2 },
    flags: [
      { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
      { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
      { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    ],
  },
  plugins: [STORAGE],
  async run(ctx, p) {
    const src = p.args[0]!;
    const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
    if (/^https?:\/\//.test(src)) throw ERR_USAGE('importing from a URL is not supported: download the file first');
    if (p.args[1]) {
      const { parseNormalized } = require('../../core/images/reference') as typeof import('../../core/images/reference');
      if (parseNormalized(p.args[1]).digest !== undefined) throw ERR_USAGE('refusing to create a tag with a digest reference');
    }
    const { engine } = await svc(ctx);
    const { importTarball } = require('../../core/images/import') as typeof import('../../core/images/import');
    const message = p.str('message');
    const platform = p.str('platform');
    const img = await importTarball(engine, src === '-' ? ctx.stdin : src, {
      ...(p.args[1] ? { tag: p.args[1] } : {}),
      changes: p.list('change'),
      ...(message !== undefined ? { message } : {}),
      ...(platform !== undefined ? { platform } : {}),
    });
    ctx.out(img.id);
  },
};

const login: CliCommand = {
  spec: {
    name: 'login',
    usage: 'berth login [OPTIONS] [SERVER]',
    description: 'Log in to a registry',
    args: { max: 1 },
    flags: [
      { name: 'username', short: 'u', type: 'string', description: 'Username' },
      { name: 'password', short: 'p', type: 'string', description: 'Password' },
      { name: 'password-stdin', type: 'bool', description: 'Take the password from stdin' },
    ],
  },
  plugins: [TRANSPORT],
  async run(ctx, p) {
    await loginWith(ctx, p, async (server, creds) => {
      const engine = await ctx.engine();
      const { pickTransport } = require('../../core/images/pull') as typeof import('../../core/images/pull');
      await pickTransport(engine, `${server}/x`).login(server, creds);
    });
  },
  remote: (ctx, p) => remote().login(ctx, p),
};

/**
 * A login: the registry and credentials from the flags (loginInput), checked by `check` (which
 * throws when the registry refuses them), then stored in this user's config.json.
 */
export async function loginWith(ctx: CliContext, p: Parsed, check: (server: string, creds: { username: string; password: string }) => Promise<void>): Promise<void> {
  const { server, username, password } = await loginInput(ctx, p);
  await check(server, { username, password });
  const auth = require('../../core/images/auth') as typeof import('../../core/images/auth');
  await auth.storeCredentials(server, { username, password });
  ctx.out('Login Succeeded');
}

/** The registry and credentials of a login: flags, `--password-stdin`, else the stored ones. */
async function loginInput(ctx: CliContext, p: Parsed): Promise<{ server: string; username: string; password: string }> {
  const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
  const auth = require('../../core/images/auth') as typeof import('../../core/images/auth');
  const server = auth.normalizeServer(p.args[0] ?? 'docker.io');
  let username = p.str('username');
  let password = p.str('password');
  if (p.bool('password-stdin')) {
    if (password !== undefined) throw ERR_USAGE('--password and --password-stdin are mutually exclusive');
    if (username === undefined) throw ERR_USAGE('Must provide --username with --password-stdin');
    const chunks: Buffer[] = [];
    for await (const c of ctx.stdin as AsyncIterable<Buffer>) chunks.push(c);
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  } else if (password !== undefined) {
    ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
  }
  if (username === undefined || password === undefined) {
    const saved = await auth.getCredentials(server);
    if (username === undefined && saved?.username && password === undefined) {
      username = saved.username;
      password = saved.password;
    }
  }
  if (!username) throw ERR_USAGE('Error: Cannot perform an interactive login from a non TTY device: use -u and -p or --password-stdin');
  if (password === undefined) throw ERR_USAGE('Error: Cannot perform an interactive login from a non TTY device: use -p or --password-stdin');
  return { server, username, password };
}

const logout: CliCommand = {
  spec: { name: 'logout', usage: 'berth logout [SERVER]', description: 'Log out from a registry', args: { max: 1 }, flags: [] },
  plugins: [],
  async run(ctx, p: Parsed) {
    const auth = require('../../core/images/auth') as typeof import('../../core/images/auth');
    const server = auth.normalizeServer(p.args[0] ?? 'docker.io');
    const key = auth.serverKey(server);
    if (await auth.removeCredentials(server)) ctx.out(`Removing login credentials for ${key}`);
    else ctx.out(`Not logged in to ${key}`);
  },
};

export const commands: CliCommand[] = [pull, push, tag, images, rmi, imageInspect, history, imagePrune, save, load, importCmd, login, logout];
