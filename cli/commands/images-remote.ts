/**
 * The image commands against an engine at `-H`/BERTH_HOST (cli/remote.ts): each one sends the
 * Docker Engine API request the docker CLI sends for it and prints the answer with the same
 * printer its local run uses (images.ts), so `berth -H … images` and `berth images` on the
 * engine's machine print the same lines. Credentials for a registry are read here, from this
 * user's config.json, and sent in `X-Registry-Auth`, as the docker CLI does; the engine's own
 * configuration decides which registries it reaches over plain HTTP.
 */
import type { CliContext } from '../command';
import type { Parsed } from '../kit/args';
import type { Progress } from '../kit/progress';
import type { EngineClient, JsonMessage } from '../remote';
import {
  announceDefaultTag,
  confirmPrune,
  inspectEach,
  listFilters,
  loadSource,
  loginWith,
  parseFilters,
  printHistory,
  printImages,
  printPruned,
  removeEach,
  saveTarget,
  writeSaved,
} from './images';

const kit = () => require('../kit') as typeof import('../kit');
const reference = () => require('../../core/images/reference') as typeof import('../../core/images/reference');
const remoteKit = () => require('../remote') as typeof import('../remote');

function client(ctx: CliContext): EngineClient {
  // main.ts calls a command's remote run only with a client
  return ctx.remote!;
}

/** An image name in a request path: every character that is not part of a reference escaped. */
const imagePath = (name: string, suffix = ''): string => `/images/${encodeURIComponent(name).replace(/%2F/g, '/').replace(/%3A/g, ':').replace(/%40/g, '@')}${suffix}`;

/** Pull and push progress: each message drawn by the progress display the local run uses. */
function drawer(ctx: CliContext, quiet: boolean): { progress: Progress; onMessage(m: JsonMessage): void } {
  const progress = kit().createProgress(ctx.stdout, { quiet });
  return {
    progress,
    onMessage(m) {
      if (m.status === undefined) return;
      if (m.id !== undefined && m.id !== '') progress.update(m.id, m.status, m.progressDetail);
      else progress.line(m.status);
    },
  };
}

export async function pull(ctx: CliContext, p: Parsed): Promise<void> {
  const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
  if (p.list('insecure-registry').length) {
    throw ERR_USAGE('--insecure-registry configures an engine run here: the engine at -H/BERTH_HOST reaches registries as its own configuration says (insecure-registries)');
  }
  const input = p.args[0]!;
  const { parseReference, referenceString } = reference();
  const ref = parseReference(input);
  const quiet = p.bool('quiet');
  announceDefaultTag(ctx, input, quiet);
  const platform = p.str('platform');
  const { progress, onMessage } = drawer(ctx, quiet);
  try {
    await client(ctx).stream('POST', '/images/create', {
      query: { fromImage: ref.name, tag: ref.digest ?? ref.tag, platform },
      headers: await remoteKit().registryAuthHeader(ref.domain),
    }, onMessage);
  } finally {
    progress.close();
  }
  ctx.out(referenceString(ref));
}

export async function push(ctx: CliContext, p: Parsed): Promise<void> {
  const { parseNormalized, referenceString, withDefaultTag } = reference();
  const ref = withDefaultTag(parseNormalized(p.args[0]!));
  const quiet = p.bool('quiet');
  const { progress, onMessage } = drawer(ctx, quiet);
  let tag = ref.tag;
  try {
    await client(ctx).stream('POST', imagePath(ref.name, '/push'), {
      query: { tag: ref.tag },
      headers: await remoteKit().registryAuthHeader(ref.domain),
    }, (m) => {
      if (typeof m.aux?.Tag === 'string') tag = m.aux.Tag;
      onMessage(m);
    });
  } finally {
    progress.close();
  }
  if (quiet) ctx.out(referenceString({ ...ref, ...(tag !== undefined ? { tag } : {}) }));
}

export async function tag(ctx: CliContext, p: Parsed): Promise<void> {
  // The target goes whole as `repo`: the engine parses it exactly as a local `tag` would.
  await client(ctx).send('POST', imagePath(p.args[0]!, '/tag'), { query: { repo: p.args[1]! } });
}

interface ListItem { Id: string; RepoTags?: string[] | null; RepoDigests?: string[] | null; Created: number; Size: number }

export async function images(ctx: CliContext, p: Parsed): Promise<void> {
  const list = await client(ctx).json<ListItem[]>('GET', '/images/json', { query: { all: p.bool('all') || undefined, filters: JSON.stringify(listFilters(p)) } });
  const { isoTime } = require('../../core/time') as typeof import('../../core/time');
  printImages(ctx, p, list.map((i) => ({
    id: i.Id,
    // dockerd lists an untagged image as `<none>:<none>` / `<none>@<none>`; berth's records have none
    repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    repoDigests: (i.RepoDigests ?? []).filter((d) => d !== '<none>@<none>'),
    created: i.Created > 0 ? isoTime(i.Created * 1000) : '',
    size: i.Size,
  })));
}

export function rmi(ctx: CliContext, p: Parsed): Promise<number> {
  return removeEach(ctx, p, (ref) => client(ctx).json('DELETE', imagePath(ref), { query: { force: p.bool('force') || undefined, noprune: p.bool('no-prune') || undefined } }));
}

export function imageInspect(ctx: CliContext, p: Parsed): Promise<number> {
  return inspectEach(ctx, p, (ref) => client(ctx).json('GET', imagePath(ref, '/json')));
}

export async function history(ctx: CliContext, p: Parsed): Promise<void> {
  const steps = await client(ctx).json<Array<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }>>('GET', imagePath(p.args[0]!, '/history'));
  printHistory(ctx, p, steps.map((s) => ({ id: s.Id, created: s.Created > 0 ? s.Created * 1000 : NaN, createdBy: s.CreatedBy, size: s.Size, comment: s.Comment })));
}

export async function imagePrune(ctx: CliContext, p: Parsed): Promise<void> {
  if (!(await confirmPrune(ctx, p))) return;
  const filters = parseFilters(p.list('filter'));
  // Docker's CLI sends `--all` as the filter dangling=false.
  if (p.bool('all')) filters.dangling = ['false'];
  const r = await client(ctx).json<{ ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed?: number }>('POST', '/images/prune', { query: { filters: JSON.stringify(filters) } });
  printPruned(ctx, r.ImagesDeleted ?? [], r.SpaceReclaimed ?? 0);
}

export async function save(ctx: CliContext, p: Parsed): Promise<void> {
  const file = saveTarget(ctx, p);
  const c = client(ctx);
  // Asked before anything is written: a missing image is the engine's 404, and no file appears.
  const res = await c.checked(await c.request('GET', '/images/get', { query: { names: p.args } }));
  const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
  await writeSaved(ctx, file, async (out) => {
    await pipeline(res, out, { end: out !== ctx.stdout });
    // A tar cut short (the engine failed mid-archive and closed the connection) is refused.
    if (!res.complete) throw remoteKit().ERR_REMOTE_PROTOCOL(c.address.text, 'GET /images/get', 'the archive was cut short');
  });
}

export async function load(ctx: CliContext, p: Parsed): Promise<void> {
  const input = loadSource(ctx, p);
  await client(ctx).stream('POST', '/images/load', { query: { quiet: p.bool('quiet') || undefined }, headers: { 'Content-Type': 'application/x-tar' }, body: input }, (m) => {
    if (m.stream !== undefined) ctx.stdout.write(m.stream);
  });
}

export function login(ctx: CliContext, p: Parsed): Promise<void> {
  // The engine checks the credentials against the registry; this client stores them.
  return loginWith(ctx, p, async (server, creds) => void (await client(ctx).json('POST', '/auth', { json: { ...creds, serveraddress: server } })));
}
