import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import busboy from 'busboy';
import { HttpError } from '../shared/errors.ts';
import { LIMITS, assertIdentityEncoding } from '../shared/limits.ts';
import type { UploadStore } from '../shared/upload-store.ts';
import { checkFileName } from './file-name.ts';

/** Room for the multipart framing around the file when judging a declared Content-Length. */
const MULTIPART_OVERHEAD_BYTES = 16 * 1024;
export const FILE_FIELD = 'file';

export interface ReceivedUpload {
  fileName: string;
  size: number;
}

const tooLarge = (maxBytes: number) => new HttpError(413, 'payload_too_large', `upload is larger than ${maxBytes} bytes`);
const malformed = (reason: string) => new HttpError(400, 'malformed_multipart', reason);

/**
 * Streams the one `file` part of a multipart request into the store as it arrives. Any
 * failure (size limit, malformed body, a second file, a client that goes away) leaves
 * nothing in the store: a partial put is aborted, and a complete one is removed again.
 */
export async function receiveUpload(
  req: IncomingMessage, opts: { maxBytes: number; store: UploadStore; objectName: string },
): Promise<ReceivedUpload> {
  if (!/^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'unsupported_media_type', `upload must be multipart/form-data with a "${FILE_FIELD}" part`);
  }
  assertIdentityEncoding({ get: (name: string) => String(req.headers[name.toLowerCase()] ?? '') });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBytes + MULTIPART_OVERHEAD_BYTES) throw tooLarge(opts.maxBytes);

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // preservePath: we want to see "../x" to refuse it, not have it silently trimmed.
      preservePath: true,
      // One byte over the limit marks the file as too large; a file of exactly the limit passes.
      limits: { fileSize: opts.maxBytes + 1, files: 1, fields: 16, fieldSize: 4096, parts: LIMITS.maxUploadParts, headerPairs: 32 },
    });
  } catch (err) {
    throw malformed((err as Error).message);
  }

  return new Promise<ReceivedUpload>((resolve, reject) => {
    let failure: HttpError | undefined;
    let stored: Promise<{ size: number }> | undefined;
    let fileName = '';
    let abortFile: ((err: Error) => void) | undefined;
    let finished = false;

    const fail = (err: HttpError) => {
      failure ??= err;
      abortFile?.(err);
    };

    const finish = async () => {
      if (finished) return;
      finished = true;
      let size: number | undefined;
      if (stored) {
        try {
          size = (await stored).size;
        } catch (err) {
          failure ??= err instanceof HttpError ? err : new HttpError(503, 'store_unavailable', 'the upload store failed', {}, { cause: err });
        }
      } else {
        failure ??= new HttpError(400, 'missing_file', `multipart body has no "${FILE_FIELD}" file part`);
      }
      if (failure) {
        if (size !== undefined) await opts.store.remove(opts.objectName).catch(() => undefined);
        reject(failure);
      } else {
        resolve({ fileName, size: size! });
      }
    };

    parser.on('file', (field, file, info) => {
      if (field !== FILE_FIELD) {
        file.resume();
        fail(new HttpError(400, 'unexpected_part', `unexpected file part "${field}": send the file as "${FILE_FIELD}"`));
        return;
      }
      try {
        fileName = checkFileName(info.filename ?? '');
      } catch (err) {
        file.resume();
        fail(err as HttpError);
        return;
      }
      // The store reads from `body`; busboy's own stream is never destroyed (busboy would
      // stall on it), only unpiped and drained, so the rest of the request is still read.
      const body = new Transform({
        transform(chunk, _enc, cb) { cb(null, chunk); },
        flush(cb) { cb(file.truncated ? tooLarge(opts.maxBytes) : null); },
      });
      // The store may not be reading yet (a directory is still being made): its put reports
      // the error; an unobserved 'error' event must not take the process down meanwhile.
      body.on('error', () => undefined);
      abortFile = (err) => {
        file.unpipe(body);
        file.resume();
        body.destroy(err);
      };
      file.on('limit', () => fail(tooLarge(opts.maxBytes)));
      file.on('error', (err) => fail(malformed(err.message)));
      file.pipe(body);
      stored = opts.store.put(opts.objectName, body);
      stored.catch(() => undefined);
      if (failure) abortFile(failure);
    });
    parser.on('filesLimit', () => fail(new HttpError(400, 'too_many_files', `send exactly one "${FILE_FIELD}" part`)));
    parser.on('partsLimit', () => fail(malformed('too many parts')));
    parser.on('fieldsLimit', () => fail(malformed('too many fields')));
    parser.on('error', (err) => {
      fail(malformed((err as Error).message));
      req.unpipe(parser);
      req.resume();
      void finish();
    });
    parser.on('close', () => void finish());
    req.on('close', () => {
      if (req.readableEnded) return;
      fail(new HttpError(400, 'client_aborted', 'the client closed the request before the body ended'));
      void finish();
    });
    req.pipe(parser);
  });
}
