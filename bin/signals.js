#!/usr/bin/env node
// The `signals` binary: runs the TypeScript CLI through tsx's ESM loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
