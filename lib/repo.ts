import { fileURLToPath } from 'node:url';

/** The repository's root directory (with a trailing slash): what every path of the project is relative to. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
