/**
 * Settings shared by the property suites (test/props-*.test.ts).
 *
 * Each property runs a modest number of generated cases so that a file
 * finishes in a couple of seconds. Seeds are random, so every run explores
 * new inputs; when a property fails, fast-check prints the seed and the
 * path of the shrunk counterexample. To replay exactly that case, run that
 * one test again with them in the environment (the path belongs to one
 * property, hence `-t`):
 *
 * ```sh
 * PROPS_SEED=-1819918769 PROPS_PATH='42:1:0' npx vitest run test/props-slab.test.ts -t 'nextKey'
 * ```
 *
 * `PROPS_RUNS` raises (or lowers) the number of cases for a longer search.
 */
import fc from 'fast-check';

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Parameters for `fc.assert`: `numRuns` cases (unless `PROPS_RUNS` says
 * otherwise), and the replay seed and path from the environment when given.
 */
export function params<Ts = unknown>(numRuns = 200): fc.Parameters<Ts> {
  const seed = envInt('PROPS_SEED');
  const path = process.env.PROPS_PATH;
  return {
    numRuns: envInt('PROPS_RUNS') ?? numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined || path === '' ? {} : { path }),
  };
}
