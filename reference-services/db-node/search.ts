import { createHmac } from 'node:crypto';

/** Lower-cased word tokens; the same on both sides of a match. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * A simple text score: for each query term, its occurrences in the title (weighted 3)
 * and the content, damped so that one repeated word can't dominate.
 */
export function score(queryTerms: string[], doc: { title: string; content: string; tags?: string[] }): number {
  if (queryTerms.length === 0) return 0;
  const title = tokenize(doc.title);
  const body = tokenize(`${doc.content} ${(doc.tags ?? []).join(' ')}`);
  let total = 0;
  for (const term of new Set(queryTerms)) {
    const hits = 3 * title.filter((t) => t === term).length + body.filter((t) => t === term).length;
    if (hits > 0) total += 1 + Math.log(hits);
  }
  return Number(total.toFixed(4));
}

/** Each term of a document with its weighted hit count (title ×3), as `score` counts them. */
export function termWeights(doc: { title: string; content: string; tags?: string[] }): Map<string, number> {
  const weights = new Map<string, number>();
  for (const t of tokenize(doc.title)) weights.set(t, (weights.get(t) ?? 0) + 3);
  for (const t of tokenize(`${doc.content} ${(doc.tags ?? []).join(' ')}`)) weights.set(t, (weights.get(t) ?? 0) + 1);
  return weights;
}

/** `score` from the hit counts of the query terms a document contains. */
export const scoreOfHits = (hits: number[]): number => Number(hits.reduce((sum, h) => sum + (h > 0 ? 1 + Math.log(h) : 0), 0).toFixed(4));

/**
 * The key that blinds a tenant's index terms: derived from the tenant's first data key,
 * which every node can unwrap and which rotation keeps, so every node computes the same
 * term ids before and after a rotation. Index keys are HMACs of terms under it: the store
 * never holds a term in plaintext, and without the tenant's key a term id can't be guessed.
 */
export const indexKeyOf = (firstDataKey: Buffer, tenantId: string): Buffer =>
  createHmac('sha256', firstDataKey).update(`percolate-search-index:${tenantId}`).digest();

/** A term's id in the index: 128 bits of HMAC-SHA256 under the tenant's index key. */
export const termId = (indexKey: Buffer, term: string): string => createHmac('sha256', indexKey).update(term).digest('base64url').slice(0, 22);
