// Copies the non-TypeScript files the compiled code loads at run time (the Lua scripts and the
// Lua includes beside the TypeScript of their concern) into dist/, keeping their paths.
import { cpSync } from 'node:fs';

cpSync('src', 'dist/src', { recursive: true, filter: (path) => !path.endsWith('.ts') });
