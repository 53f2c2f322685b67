import { assert, assertEquals } from "@std/assert";
import * as layout from "../src/layout.ts";

Deno.test("layout header and control words never overlap and stay on their lines", () => {
  const header = [
    layout.H_MAGIC,
    layout.H_LAYOUT,
    layout.H_BUFFER_WORDS,
    layout.H_CURRENT_COPY,
    layout.H_SEED,
    layout.H_MAX_READERS,
    layout.H_WRITER_CLOSED,
    layout.H_MAP_ID,
    layout.H_MAP_ID + 1,
  ];
  for (const copy of [0, 1]) {
    for (const field of [layout.T_OFFSET, layout.T_MASK, layout.T_SIZE]) {
      header.push(layout.H_TABLES + layout.TABLE_STRIDE * copy + field);
    }
  }
  const control = [
    layout.C_RESIDUAL,
    layout.C_WRITER_PARKED,
    layout.C_REGISTRY_LOCK,
    layout.C_SLOTS_USED,
    layout.C_PUBLISHES,
  ];
  assertEquals(
    new Set([...header, ...control]).size,
    header.length + control.length,
  );
  for (const word of header) {
    assert(word >= 0 && word < 32, `header word ${word}`);
  }
  for (const word of control) {
    assert(word >= 32 && word < 64, `control word ${word}`);
  }
  assertEquals(layout.REGISTRY_START, 64);
});

Deno.test("layout gives every reader slot its own 128-byte line", () => {
  assertEquals(layout.SLOT_WORDS * 4, 128);
  assertEquals(layout.slotBase(0) * 4 % 128, 0);
  assertEquals((layout.slotBase(1) - layout.slotBase(0)) * 4, 128);
  assertEquals(layout.heapStart(3), layout.slotBase(3));
  assertEquals(layout.heapStart(3) % 2, 0); // heap blocks start 8-byte aligned
});

Deno.test("MapViews.remap() covers the grown buffer with fixed-length views", () => {
  const buffer = new SharedArrayBuffer(64, { maxByteLength: 1024 });
  const views = new layout.MapViews(buffer);
  assertEquals(views.words, 16);
  buffer.grow(1000);
  assertEquals(views.words, 16);
  views.remap();
  assertEquals(views.words, 250);
  assertEquals(views.f64.length, 125);
  assertEquals(views.u16.length, 500);
});
