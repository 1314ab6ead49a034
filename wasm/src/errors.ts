/**
 * Errors raised by the WebAssembly hot paths (sha256, gzip/zlib inflate, zstd).
 *
 * - ERR_WASM_CORRUPT_INPUT: the compressed stream is malformed, truncated, or fails its checksum.
 * - ERR_WASM_LIMIT_EXCEEDED: the stream needs more memory (zstd window) or produces more output
 *   than the configured cap — how a decompression bomb is reported.
 * - ERR_WASM_UNSUPPORTED: a valid stream uses a feature berth does not decode (preset dictionaries).
 * - ERR_WASM_UNAVAILABLE: the compiled module is missing (run `npm run build:wasm`) or cannot load.
 */
import { defineError } from '../../core/errors';

export const ERR_WASM_CORRUPT_INPUT = defineError('ERR_WASM_CORRUPT_INPUT', 'invalidArgument', '%s: corrupt input: %s');
export const ERR_WASM_LIMIT_EXCEEDED = defineError('ERR_WASM_LIMIT_EXCEEDED', 'invalidArgument', '%s: limit exceeded: %s');
export const ERR_WASM_UNSUPPORTED = defineError('ERR_WASM_UNSUPPORTED', 'notImplemented', '%s: unsupported: %s');
export const ERR_WASM_UNAVAILABLE = defineError('ERR_WASM_UNAVAILABLE', 'unavailable', 'wasm module %s unavailable: %s');
export const ERR_WASM_ABORT = defineError('ERR_WASM_ABORT', 'internal', 'wasm module %s aborted: %s');
