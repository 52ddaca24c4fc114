import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { validateResource } from './schema.ts';
import { type ChaosResource, ChaosValidationError } from './types.ts';

/** One resource from YAML text (a file of `chaos/` holds exactly one), checked against our schema. */
export function parseChaosYaml(text: string, where = 'chaos resource'): ChaosResource {
  const docs = parseAllDocuments(text).filter((d) => !(d.contents === null && d.errors.length === 0));
  if (docs.length !== 1) throw new ChaosValidationError([`expected exactly one YAML document, found ${docs.length}`], where);
  const doc = docs[0]!;
  if (doc.errors.length) {
    const shown = doc.errors.slice(0, 3).map((e) => `YAML: ${e.message.split('\n')[0]}`);
    if (doc.errors.length > 3) shown.push(`and ${doc.errors.length - 3} more YAML errors: is this a resource file?`);
    throw new ChaosValidationError(shown, where);
  }
  return validateResource(doc.toJS(), where);
}

export function loadChaosFile(file: string): ChaosResource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ChaosValidationError([`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], file);
  }
  return parseChaosYaml(text, file);
}
