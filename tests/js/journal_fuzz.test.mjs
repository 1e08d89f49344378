// The fsync journal against a model, on Node: seeded random writes, appends and truncates of a few
// files (one and several chunks), fsyncs (some while a flush is under way), flushes, and commits
// that fail; then a kill and a restore in another runtime, which must give every file exactly as it
// was at the later of its last fsync and the last commit that landed. Repeated, each restore
// becoming the tab that goes on. The commits that fail are the store's injected faults (the next
// transaction aborts), so the model knows which land.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tab, start, killWithJournal, Opfs } from "./harness.mjs";

const CHUNK = 262144;
const FILES = ["a", "b", "c"];
const opfs = new Opfs();
let tabs;

before(async () => {
  tabs = [await tab(), await tab()];
  opfs.install();
});
after(() => opfs.uninstall());

function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

async function run(seed, rounds = 4, steps = 30) {
  const rand = random(seed);
  const pick = (n) => Math.floor(rand() * n);
  const name = `autosync:/fuzz${seed}`;
  // What each file must hold after a kill: [when, bytes] (bytes undefined: absent), the later of
  // its last fsync and the last landed commit that wrote it.
  const durable = new Map();
  let clock = 0;
  const hold = (f, when, bytes) => {
    if (!durable.has(f) || durable.get(f)[0] < when) durable.set(f, [when, bytes]);
  };
  let t;
  let dir;
  let m;
  const path = (f) => `${dir}/${f}`;
  const content = (f) => (t.FS.analyzePath(path(f)).exists ? t.FS.readFile(path(f)).slice() : undefined);
  // Each flush's snapshot, as the model sees it: the files it writes, as they are when it is taken;
  // held once (if) its commit lands.
  const watch = () => {
    const take = m.tracker.take.bind(m.tracker);
    let taken = null;
    m.tracker.take = () => (taken = take());
    const write = m.flusher.write.bind(m.flusher);
    m.flusher.write = (writer, options) => {
      const done = write(writer, options);
      const when = ++clock;
      const held = [...taken.nodes.keys()].filter((n) => n.parent === m.root && FILES.includes(n.name)).map((n) => [n.name, content(n.name)]);
      done.then(() => held.forEach(([f, bytes]) => hold(f, when, bytes)), () => {});
      return done;
    };
  };
  const log = [];
  for (let round = 0; round <= rounds; round++) {
    t = tabs[round % 2];
    dir = `/fuzz${seed}-${round}`;
    const restored = {};
    m = await start(t, dir, { durableFsync: true, name, restoredOut: restored });
    assert.deepEqual(restored.failed, [], `seed ${seed} round ${round}`);
    for (const f of FILES) {
      const want = durable.has(f) ? durable.get(f)[1] : undefined;
      const got = content(f);
      const same = want === undefined ? got === undefined : got !== undefined && Buffer.compare(Buffer.from(want), Buffer.from(got)) === 0;
      assert.ok(same, `seed ${seed} round ${round}: ${f} is ${got ? got.byteLength : "absent"} bytes, not ${want ? want.byteLength : "absent"}; steps:\n${log.slice(-40).join("\n")}`);
    }
    if (round === rounds) break;
    watch();
    for (let step = 0; step < steps; step++) {
      const f = FILES[pick(FILES.length)];
      const op = pick(10);
      if (op < 4) {
        const size = content(f) ? content(f).byteLength : 0;
        const at = pick(3) === 0 ? size : pick(Math.max(1, Math.min(size + 1, 3 * CHUNK)));
        const n = pick(3) === 0 ? CHUNK + pick(CHUNK) : 1 + pick(300);
        const bytes = new Uint8Array(n).map(() => pick(256));
        const stream = t.FS.open(path(f), content(f) ? "r+" : "w");
        t.FS.write(stream, bytes, 0, n, at);
        t.FS.close(stream);
        log.push(`write ${f} ${at}+${n}`);
      } else if (op === 4 && content(f)) {
        const size = pick(2 * CHUNK);
        t.FS.truncate(path(f), size);
        log.push(`truncate ${f} ${size}`);
      } else if (op < 8 && content(f)) {
        const failing = pick(3) === 0;
        if (failing) t.lib.store.faults.fail = 1;
        const stream = t.FS.open(path(f), "r");
        assert.equal(stream.stream_ops.fsync(stream), 0, "fsync");
        t.FS.close(stream);
        // On disk in the journal now, whatever its commit does.
        hold(f, ++clock, content(f));
        log.push(`fsync ${f}${failing ? " (a commit fails)" : ""}`);
        // Sometimes the next step comes while this commit is under way.
        if (pick(2) === 0) continue;
      } else if (op === 8) {
        const failing = pick(3) === 0;
        if (failing) t.lib.store.faults.fail = 1;
        const done = m.flush();
        if (done) await done;
        log.push(`flush${failing ? " (a commit fails)" : ""}`);
      }
      await m.flusher.settled().catch(() => {});
    }
    await killWithJournal(m);
    t.lib.store.faults.fail = 0;
    log.push("kill");
  }
  m.detach();
}

// JOURNAL_FUZZ=FIRST-LAST runs those seeds instead (a longer search).
const range = (process.env.JOURNAL_FUZZ || "1-6").split("-").map(Number);
for (let seed = range[0]; seed <= range[1]; seed++) {
  test(`fsync journal fuzz, seed ${seed}`, async () => {
    await run(seed);
  });
}
