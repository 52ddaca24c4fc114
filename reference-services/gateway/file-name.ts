import { HttpError } from '../shared/errors.ts';
import { LIMITS } from '../shared/limits.ts';

const MAX_FILE_NAME_BYTES = LIMITS.maxFileNameBytes;

/**
 * The client's file name is kept for display only (storage keys are ours), but a name
 * that looks like a path is refused outright rather than quietly trimmed, so that a
 * client learns it sent something we will never treat as a path.
 */
export function checkFileName(name: string): string {
  const invalid = (reason: string) => new HttpError(400, 'invalid_file_name', reason);
  if (name.length === 0) throw invalid('file name is empty');
  if (/[/\\]/.test(name)) throw invalid('file name must not contain path separators');
  if (name === '.' || name === '..') throw invalid('file name must not be "." or ".."');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalid('file name must not contain control characters');
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) throw invalid(`file name is longer than ${MAX_FILE_NAME_BYTES} bytes`);
  return name;
}
