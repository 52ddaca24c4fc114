import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { UPLOADS_BUCKET, streamReplicas } from './nats.ts';
import type { UploadStore } from './upload-store.ts';

/**
 * Uploads in the JetStream object store `percolate_uploads`. The client publishes one
 * chunk at a time and waits for its ack, so a slow store slows the upload (backpressure)
 * instead of filling memory; a failed put purges the chunks it had written.
 */
export class ObjectUploadStore implements UploadStore {
  readonly kind = 'object-store';
  private constructor(private readonly os: ObjectStore) {}

  static async open(nc: NatsConnection): Promise<ObjectUploadStore> {
    return new ObjectUploadStore(await new Objm(nc).create(UPLOADS_BUCKET, { storage: StorageType.File, replicas: streamReplicas() }));
  }

  async put(name: string, source: Readable): Promise<{ size: number }> {
    const info = await this.os.put({ name }, Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>);
    return { size: info.size };
  }

  async *read(name: string): AsyncIterable<Uint8Array> {
    const result = await this.os.get(name);
    if (!result) throw new Error(`upload ${name} not found in ${UPLOADS_BUCKET}`);
    yield* result.data as unknown as WebReadableStream<Uint8Array>;
    // The digest is checked once the last chunk has been read.
    const err = await result.error;
    if (err) throw err;
  }

  async remove(name: string): Promise<void> {
    await this.os.delete(name);
  }

  async list(): Promise<string[]> {
    return (await this.os.list()).filter((info) => !info.deleted).map((info) => info.name);
  }
}
