import { randomBytes } from 'node:crypto';

export interface Part {
  name: string;
  /** Written into Content-Disposition exactly as given (no escaping), so tests control the bytes. */
  filename?: string;
  content: string | Buffer;
  type?: string;
}

/** Hand-built multipart/form-data, so that tests can send exactly the (bad) framing they mean. */
export class MultipartBody {
  readonly boundary = `----percolate-${randomBytes(8).toString('hex')}`;
  constructor(readonly parts: Part[]) {}

  get contentType(): string { return `multipart/form-data; boundary=${this.boundary}`; }

  head(part: Part): Buffer {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    const type = part.filename !== undefined ? `Content-Type: ${part.type ?? 'application/octet-stream'}\r\n` : '';
    return Buffer.from(`--${this.boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`);
  }

  get tail(): Buffer { return Buffer.from(`--${this.boundary}--\r\n`); }

  toBuffer(): Buffer {
    return Buffer.concat([...this.parts.flatMap((p) => [this.head(p), Buffer.from(p.content), Buffer.from('\r\n')]), this.tail]);
  }
}

/** One file part named "file": the normal upload. */
export function fileUpload(filename: string, content: string | Buffer): MultipartBody {
  return new MultipartBody([{ name: 'file', filename, content }]);
}
