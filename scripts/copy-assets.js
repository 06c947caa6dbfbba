// Copies the non-TypeScript files the compiled code loads at run time (Lua scripts) into dist/.
import { cpSync } from 'node:fs';

cpSync('src/redis/lua', 'dist/src/redis/lua', { recursive: true });
