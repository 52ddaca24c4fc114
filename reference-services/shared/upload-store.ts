import type { Readable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DirectoryUploadStore } from './upload-store-directory.ts';
import { ObjectUploadStore } from './upload-store-object.ts';

/**
 * Where uploads live between the gateway and a worker: the JetStream object store, or a
 * directory standing in for S3. Both stream: neither holds a whole upload in memory.
 */
export interface UploadStore {
  readonly kind: 'object-store' | 'directory';
  /**
   * Stores `source` under `name`. If `source` errors (a size limit, a client that went
   * away) or the store fails, the promise rejects and nothing of the upload remains.
   */
  put(name: string, source: Readable): Promise<{ size: number }>;
  /** The upload's bytes, streamed; rejects while iterating if it is missing or corrupt. */
  read(name: string): AsyncIterable<Uint8Array>;
  remove(name: string): Promise<void>;
  /** Names of every complete upload (for audits and tests). */
  list(): Promise<string[]>;
}

export async function openUploadStore(opts: { uploadDir?: string | undefined; nc: NatsConnection }): Promise<UploadStore> {
  if (opts.uploadDir) return DirectoryUploadStore.open(opts.uploadDir);
  return ObjectUploadStore.open(opts.nc);
}
