/**
 * berth's WebAssembly hot paths: SHA-256, gzip/zlib inflate and Zstandard decompression,
 * compiled from AssemblyScript (wasm/assembly) and loaded from wasm/build, plus the backend
 * selection that picks WASM or Node's native crypto/zlib per operation.
 */
export { createSha256, sha256, WasmSha256 } from './sha256';
export type { Hasher, Sha256Exports } from './sha256';
export { createGunzip, createInflate, gunzipSync, inflateSync, inflateRawSync } from './inflate';
export type { InflateExports, InflateOptions, DeflateFormat } from './inflate';
export { createZstdDecompress, zstdDecompressSync, DEFAULT_MAX_WINDOW } from './zstd';
export type { ZstdExports, ZstdOptions } from './zstd';
export { selectBackends, readCachedChoice, measureBackends, hasher, decompressor, createDecompressor, compressionOf, cacheKey } from './select';
export type { Backend, BackendChoice, Backends, HotOp, SelectOptions, CompressionKind, DecompressorOptions } from './select';
export { createThreadedDecompressor, ThreadedDecompressor } from './thread';
export type { ThreadedOptions } from './thread';
export type { DecoderOptions } from './decoder';
export { DecoderTransform } from './decoder';
export { wasmAvailable, wasmBuildDir } from './loader';
export * from './errors';
