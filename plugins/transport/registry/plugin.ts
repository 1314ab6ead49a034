/**
 * Registration of the `registry` image transport (`berth.transport.v1.registry`): an OCI
 * Distribution v2 client. Mirrors and insecure registries come from the engine configuration's
 * `registries` section; upload tuning from this plugin's own section.
 */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { ImageTransport } from '../../../core/contracts/image-transport';

export const registryTransportPlugin: PluginRegistration<ImageTransport> = {
  type: PluginType.ImageTransport,
  id: 'registry',
  description: 'OCI Distribution / Docker Registry v2 client (token + basic auth, mirrors, chunked uploads)',
  configSchema: {
    'monolithic-max': { type: 'number', integer: true, min: 0, default: 32 * 1024 * 1024, description: 'blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks' },
    'chunk-size': { type: 'number', integer: true, min: 1024, default: 16 * 1024 * 1024, description: 'size of each PATCH chunk of a chunked upload' },
    retries: { type: 'number', integer: true, min: 0, max: 10, default: 3, description: 'retries of idempotent requests on connection errors, 5xx and 429' },
    'timeout-ms': { type: 'number', integer: true, min: 1000, default: 30000, description: 'socket inactivity timeout per request' },
  },
  init(ctx) {
    const { RegistryTransport } = require('./registry') as typeof import('./registry');
    const reg = (ctx.engineConfig.registries ?? {}) as { mirrors?: Record<string, string[]>; insecure?: string[] };
    ctx.meta.capabilities.push('pull', 'push', 'bearer-auth', 'basic-auth', 'mirrors', 'chunked-upload', 'cross-repo-mount');
    return new RegistryTransport({
      mirrors: reg.mirrors ?? {},
      insecure: reg.insecure ?? [],
      monolithicMax: ctx.config['monolithic-max'] as number,
      chunkSize: ctx.config['chunk-size'] as number,
      retries: ctx.config.retries as number,
      timeoutMs: ctx.config['timeout-ms'] as number,
    });
  },
};
