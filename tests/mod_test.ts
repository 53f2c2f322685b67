import { assertEquals } from "@std/assert";
import * as flashmap from "@x/flashmap";
import config from "../deno.json" with { type: "json" };

Deno.test("mod.ts exports the public API and deno.json exports the entry points", () => {
  assertEquals(Object.keys(flashmap).sort(), [
    "BufferFullError",
    "Builder",
    "DeadlockError",
    "ReaderLimitError",
    "WaitTimeoutError",
    "attach",
    "codecs",
    "create",
  ]);
  assertEquals(config.exports, {
    ".": "./mod.ts",
    "./parallel": "./parallel.ts",
    "./kv": "./kv.ts",
  });
  assertEquals(config.name, "@x/flashmap");
});

Deno.test("mod.ts exports the types of WriteHandle.stats()", () => {
  const [write, read] = flashmap.create();
  const stats: flashmap.WriteStats = write.stats();
  const pinned: flashmap.PinnedVersion[] = stats.pinned;
  assertEquals(pinned, []);
  assertEquals(stats.copies, 2);
  assertEquals(stats.maxCopies, 8); // the default
  read.close();
  write.close();
});
