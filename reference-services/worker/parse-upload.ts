import { createHash } from 'node:crypto';

export interface ParsedUpload {
  bytes: number;
  lines: number;
  sha256: string;
  preview: string;
}

/** A file the parser refuses; retrying will not help, so it ends in the dead-letter queue. */
export class ParseError extends Error {
  override name = 'ParseError';
}

const PREVIEW_BYTES = 1024;

/**
 * The stand-in for real parsing: one streaming pass over the upload (never the whole
 * file in memory) that counts, hashes, keeps a preview, and fails on `failMarker`
 * (looked for across chunk boundaries too).
 */
export async function parseUpload(source: AsyncIterable<Uint8Array>, failMarker: string): Promise<ParsedUpload> {
  const marker = Buffer.from(failMarker);
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  for await (const piece of source) {
    const chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    hash.update(chunk);
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    if (head.length < PREVIEW_BYTES) head = Buffer.concat([head, chunk.subarray(0, PREVIEW_BYTES - head.length)]);
    if (marker.length > 0) {
      const window = Buffer.concat([tail, chunk]);
      if (window.includes(marker)) throw new ParseError(`file contains the fail marker "${failMarker}"`);
      tail = window.subarray(Math.max(0, window.length - (marker.length - 1)));
    }
  }
  if (bytes > 0 && head[head.length - 1] !== 10) lines += 1;
  // eslint-disable-next-line no-control-regex
  const preview = head.toString('utf8').replace(/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/g, '');
  return { bytes, lines, sha256: hash.digest('hex'), preview };
}

export function summarise(fileName: string, parsed: ParsedUpload): string {
  return `Parsed upload "${fileName}": ${parsed.bytes} bytes, ${parsed.lines} lines, sha256 ${parsed.sha256}.\n\n${parsed.preview}`;
}
