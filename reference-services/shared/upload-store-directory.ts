import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OBJECT_ID_PATTERN, TENANT_ID_PATTERN } from './tenant-id.ts';
import type { UploadStore } from './upload-store.ts';

const PARTIAL_SUFFIX = '.partial';

/**
 * Uploads as files below a directory (the S3 stand-in). A file is written under a
 * temporary name and renamed into place only when complete, so a reader never sees half
 * an upload, and a failed one is removed.
 */
export class DirectoryUploadStore implements UploadStore {
  readonly kind = 'directory';
  private constructor(private readonly root: string) {}

  static async open(dir: string): Promise<DirectoryUploadStore> {
    const root = resolve(dir);
    await mkdir(root, { recursive: true });
    return new DirectoryUploadStore(root);
  }

  /** Names are `<tenant>/<id>` and only ever built by us; anything else is refused, never joined. */
  private pathOf(name: string): string {
    const [tenant, id, ...rest] = name.split('/');
    if (rest.length > 0 || !tenant || !id || !TENANT_ID_PATTERN.test(tenant) || !OBJECT_ID_PATTERN.test(id)) {
      throw new Error(`invalid upload name "${name}"`);
    }
    const path = join(this.root, tenant, id);
    if (!path.startsWith(this.root + sep)) throw new Error(`upload name "${name}" escapes the upload directory`);
    return path;
  }

  async put(name: string, source: Readable): Promise<{ size: number }> {
    const path = this.pathOf(name);
    await mkdir(join(path, '..'), { recursive: true });
    const partial = `${path}.${randomBytes(6).toString('hex')}${PARTIAL_SUFFIX}`;
    try {
      await pipeline(source, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    return { size: (await stat(path)).size };
  }

  read(name: string): AsyncIterable<Uint8Array> {
    return createReadStream(this.pathOf(name));
  }

  async remove(name: string): Promise<void> {
    await rm(this.pathOf(name), { force: true });
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && !e.name.endsWith(PARTIAL_SUFFIX))
      .map((e) => `${e.parentPath.slice(this.root.length + 1)}/${e.name}`);
  }
}
