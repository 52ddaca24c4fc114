/** The acknowledged-write checker of T6 (docs/design.md §5): ledger, read-back, verdict, availability. */
export * from './ledger.ts';
export * from './check.ts';
export * from './availability.ts';
export * from './registers.ts';
export * from './judge.ts';
