/**
 * The stores of the kernel: crash-safe file writes (`atomic`), cross-process locks (`lock`),
 * msgpackr records (`metadata`) and sha256-addressed blobs (`content`). Each file opens with its
 * vocabulary and lifecycle; docs/decisions/002-store-design.md records why they are built this way.
 */
export * from './atomic';
export * from './lock';
export * from './metadata';
export * from './content';
