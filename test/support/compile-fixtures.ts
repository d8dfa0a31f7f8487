// Compiles every Motoko canister under test/canisters into .cache/motoko before the tests run,
// so parallel test files find them cached.
import { readdirSync } from 'node:fs';
import { CANISTERS_DIR, compileMotoko } from './motoko.js';

const names = readdirSync(CANISTERS_DIR).filter((f) => f.endsWith('.mo')).map((f) => f.slice(0, -3)).sort();
let compiled = 0;
for (const name of names) {
  const r = await compileMotoko(name);
  if (!r.fromCache) compiled++;
}
console.log(`motoko fixtures: ${names.length} canisters, ${compiled} compiled, ${names.length - compiled} cached`);
