#!/usr/bin/env node
// The `percolate` bin: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import(new URL('../cli/percolate.ts', import.meta.url).href);
