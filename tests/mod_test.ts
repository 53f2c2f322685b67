import { assertEquals } from "@std/assert";
import * as flashmap from "@x/flashmap";
import config from "../deno.json" with { type: "json" };

Deno.test("mod.ts exports the public API and deno.json exports mod.ts", () => {
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
  assertEquals(config.exports, "./mod.ts");
  assertEquals(config.name, "@x/flashmap");
});
