import { assert, assertEquals } from "@std/assert";
import * as layout from "../src/layout.ts";

Deno.test("layout header, control words and copy descriptors never overlap and stay on their lines", () => {
  const header = [
    layout.H_MAGIC,
    layout.H_LAYOUT,
    layout.H_BUFFER_WORDS,
    layout.H_CURRENT_COPY,
    layout.H_SEED,
    layout.H_MAX_READERS,
    layout.H_WRITER_CLOSED,
    layout.H_MAX_COPIES,
    layout.H_MAP_ID,
    layout.H_MAP_ID + 1,
    layout.H_KEY_CODEC_NAME,
    layout.H_KEY_CODEC_LENGTH,
    layout.H_VALUE_CODEC_NAME,
    layout.H_VALUE_CODEC_LENGTH,
  ];
  const control = [
    layout.C_DEPARTURES,
    layout.C_WRITER_PARKED,
    layout.C_REGISTRY_LOCK,
    layout.C_SLOTS_USED,
    layout.C_PUBLISHES,
    layout.C_REGISTRY_OWNER,
    layout.C_REGISTRY_EPOCH,
    layout.C_NEXT_TAG,
  ];
  const descriptors: number[] = [];
  for (let copy = 0; copy < layout.MAX_COPIES; copy++) {
    for (
      const field of [
        layout.T_OFFSET,
        layout.T_MASK,
        layout.T_SIZE,
        layout.T_VERSION,
      ]
    ) {
      assert(field >= 0 && field < layout.COPY_WORDS, `field ${field}`);
      descriptors.push(layout.COPIES_START + layout.COPY_WORDS * copy + field);
    }
  }
  const all = [...header, ...control, ...descriptors];
  assertEquals(new Set(all).size, all.length);
  for (const word of header) {
    assert(word >= 0 && word < 32, `header word ${word}`);
  }
  for (const word of control) {
    assert(word >= 32 && word < 64, `control word ${word}`);
  }
  // MAX_COPIES descriptors fit between the control line and the registry.
  assertEquals(layout.COPIES_START, 64);
  for (const word of descriptors) {
    assert(
      word >= layout.COPIES_START && word < layout.REGISTRY_START,
      `descriptor word ${word}`,
    );
  }
  assertEquals(
    layout.REGISTRY_START,
    layout.COPIES_START + layout.MAX_COPIES * layout.COPY_WORDS,
  );
  assertEquals(layout.REGISTRY_START % 32, 0, "the registry starts a line");
});

Deno.test("layout gives every reader slot its own 128-byte line, with a residual word per copy", () => {
  assertEquals(layout.SLOT_WORDS * 4, 128);
  assertEquals(layout.slotBase(0) * 4 % 128, 0);
  assertEquals((layout.slotBase(1) - layout.slotBase(0)) * 4, 128);
  assertEquals(layout.heapStart(3), layout.slotBase(3));
  assertEquals(layout.heapStart(3) % 2, 0); // heap blocks start 8-byte aligned
  const fields = [
    layout.S_REFCOUNT,
    layout.S_STATE,
    layout.S_OWNER,
    layout.S_REGISTRATIONS,
  ];
  for (let copy = 0; copy < layout.MAX_COPIES; copy++) {
    fields.push(layout.S_RESIDUAL + copy);
  }
  assertEquals(new Set(fields).size, fields.length);
  for (const field of fields) {
    assert(field >= 0 && field < layout.SLOT_WORDS, `slot field ${field}`);
  }
  // The copy field of a refcount word has 4 bits.
  assertEquals(layout.MAX_COPIES, 16);
  // An entry's link count holds MAX_COPIES.
  assert(layout.MAX_COPIES < 1 << layout.LINK_BITS);
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
