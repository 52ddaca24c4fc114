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
