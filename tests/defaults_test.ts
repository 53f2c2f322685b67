import { assertEquals } from "@std/assert";
import { create } from "@x/flashmap";
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_COPIES,
  DEFAULT_MAX_READERS,
} from "../src/defaults.ts";

Deno.test("the defaults are what create() applies when a limit is not given", () => {
  const [write, read] = create();
  const stats = write.stats();
  assertEquals(stats.maxCopies, DEFAULT_MAX_COPIES);
  assertEquals(stats.maxBytes, DEFAULT_MAX_BYTES);
  assertEquals(read.stats().maxReaders, DEFAULT_MAX_READERS);
  read.close();
  write.close();
});
