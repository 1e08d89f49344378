// Seeds of tests/js/tabs_fuzz.mjs (two tabs, random changes, restarts and kills, checked at rest
// against each other and against a fresh restore), with and without Web Locks: the first ones,
// and every seed that found a bug.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describe as explain, fuzz } from "./tabs_fuzz.mjs";

// 25 (with Web Locks): a file changed here and renamed over a symlink in another tab was stored
// under both names. (The first bug this found, a directory renamed over a file another tab saved,
// is a test of its own in peers.test.mjs: the generator changed since.)
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25];

for (const withLocks of [true, false]) {
  for (const seed of SEEDS) {
    test(`seed ${seed}, ${withLocks ? "with" : "without"} Web Locks`, async () => {
      const failure = await fuzz(seed, { withLocks });
      assert.equal(failure, null, failure ? explain(failure) : "");
    });
  }
}
