/**
 * `berth serve`: the Docker Engine API on a unix socket (plugins/api-docker), for the real
 * `docker` CLI, docker-py, dockerode and compose — `DOCKER_HOST=unix:///var/run/berth.sock`.
 * Runs one engine until SIGINT or SIGTERM, then stops accepting, lets the requests in progress
 * finish and removes the socket. A second signal exits at once. The berth CLI is a client of
 * it too: `berth -H unix:///var/run/berth.sock pull …` (cli/remote.ts).
 */
import type { CliCommand } from '../command';
import { ERR_USAGE } from '../../core/errors';

export const DEFAULT_SOCKET = '/var/run/berth.sock';

const serve: CliCommand = {
  spec: {
    name: 'serve',
    usage: 'berth serve [OPTIONS]',
    description: 'Serve the Docker Engine API on a unix socket',
    args: { max: 0 },
    flags: [
      { name: 'host', short: 'H', type: 'string', valueName: 'unix:///path', description: `Socket to listen on (default unix://${DEFAULT_SOCKET})` },
      { name: 'log-requests', type: 'bool', description: 'Print one line per request on stderr' },
    ],
  },
  hostsEngine: true,
  async run(ctx, p) {
    const host = p.str('host') ?? `unix://${DEFAULT_SOCKET}`;
    const m = /^unix:\/\/(\/.+)$/.exec(host);
    if (!m) throw ERR_USAGE(`berth serve: --host ${host}: want unix:///absolute/path (TCP is not served)`);
    const engine = await ctx.engine();
    const { serveDockerApi } = require('../../plugins/api-docker/server') as typeof import('../../plugins/api-docker/server');
    const api = await serveDockerApi(engine, { socket: m[1]!, ...(p.bool('log-requests') ? { log: (l: string) => ctx.err(l) } : {}) });
    ctx.err(`berth serve: listening on ${api.address} (state root ${engine.root})`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.once('SIGINT', () => process.exit(130));
        process.once('SIGTERM', () => process.exit(143));
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await api.close();
    ctx.err('berth serve: stopped');
  },
};

export const commands: CliCommand[] = [serve];
