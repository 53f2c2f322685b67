/**
 * Mutants of the production protocol and copy set: src/protocol.ts or
 * src/copies.ts with one deliberate bug each, loaded as modules of their
 * own. The explorer must catch every one, which shows it checks the real
 * code, not a copy of it.
 *
 * @module
 */

import type { Protocol } from "./scenarios.ts";

/** A named bug: the file, the exact text it replaces there, and the replacement. */
export interface Mutant {
  readonly name: string;
  readonly file: "protocol.ts" | "copies.ts";
  readonly find: string;
  readonly replace: string;
}

export const MUTANTS: Mutant[] = [
  {
    name: "a retired copy is let go (and reused) while guards still read it",
    file: "copies.ts",
    find: "if (!copyIsFree(this.#memory, copy)) {",
    replace: "if (false) {",
  },
  {
    name: "a new copy is made over a copy that is in use",
    file: "copies.ts",
    find: 'findIndex((state) => state.role === "absent")',
    replace: 'findIndex((state) => state.role === "kept")',
  },
  {
    name: "the writer waits although another copy fits",
    file: "copies.ts",
    find: "if (this.count < this.maxCopies) {",
    replace: "if (this.count < 2) {",
  },
  {
    name: "a copy is freed without checking its residual guards",
    file: "protocol.ts",
    find:
      "if ((memory.load(slotBase(slot) + S_RESIDUAL + copy) & MAX_GUARDS) !== 0) {",
    replace: "if (false) {",
  },
  {
    name: "publish never counts the guards it makes residual",
    file: "protocol.ts",
    find: "memory.add(residual, live - counted);",
    replace: "",
  },
  {
    name: "publish counts residual guards only on its first try",
    file: "protocol.ts",
    find: "if (live !== counted) {",
    replace: "if (counted === 0 && live !== 0) {",
  },
  {
    name: "publish leaves the current copy of new handles alone",
    file: "protocol.ts",
    find: "memory.store(H_CURRENT_COPY, target);",
    replace: "",
  },
  {
    name: "a residual guard leaves through its handle's refcount",
    file: "protocol.ts",
    find: "if ((expected >>> COPY_SHIFT) !== copy) return RESIDUAL_GUARD;",
    replace: "",
  },
  {
    name: 'the "last residual guard" test is off by one',
    file: "protocol.ts",
    find: "return (expected & MAX_GUARDS) === 1 ? LEFT_RESIDUAL : LEFT;",
    replace: "return (expected & MAX_GUARDS) === 2 ? LEFT_RESIDUAL : LEFT;",
  },
  {
    name: "a departing residual guard never wakes the writer",
    file: "protocol.ts",
    find: "memory.notify(C_DEPARTURES, 1);",
    replace: "",
  },
  {
    name: "the writer reads the departure count after its scan",
    file: "protocol.ts",
    find:
      "const departures = memory.load(C_DEPARTURES);\n      yield;\n      for (const copy of copies) {\n        if (copyIsFree(memory, copy)) return copy;\n      }",
    replace:
      "for (const copy of copies) {\n        if (copyIsFree(memory, copy)) return copy;\n      }\n      yield;\n      const departures = memory.load(C_DEPARTURES);",
  },
  {
    name: "reclaiming a dead handle forgets its residual guards",
    file: "protocol.ts",
    find: "outstanding += memory.exchange(index, reset) & MAX_GUARDS;",
    replace: "outstanding += memory.load(index) & 0;",
  },
  {
    name: "reclaiming a handle leaves the slot's generation alone",
    file: "protocol.ts",
    find: "const generation = generationOf(word) + 1;",
    replace: "const generation = generationOf(word);",
  },
  {
    name: "a late leave ignores that its handle was reclaimed",
    file: "protocol.ts",
    find:
      "if (generationOf(expected) !== handle.generation) return RECLAIMED;\n    if ((expected >>> COPY_SHIFT) !== copy) return RESIDUAL_GUARD;",
    replace: "if ((expected >>> COPY_SHIFT) !== copy) return RESIDUAL_GUARD;",
  },
  {
    name: "a late residual leave ignores that its handle was reclaimed",
    file: "protocol.ts",
    find:
      "if (generationOf(expected) !== handle.generation) return RECLAIMED;\n    const found = memory.compareExchange(index, expected, expected - 1);",
    replace:
      "const found = memory.compareExchange(index, expected, expected - 1);",
  },
  {
    name: "a late enter ignores that its handle was reclaimed",
    file: "protocol.ts",
    find:
      "if (generationOf(expected) !== handle.generation) return RECLAIMED;\n    if ((expected & MAX_GUARDS) === MAX_GUARDS) return GUARDS_FULL;",
    replace: "if ((expected & MAX_GUARDS) === MAX_GUARDS) return GUARDS_FULL;",
  },
  {
    name: "a new handle in a reclaimed slot starts from generation 0",
    file: "protocol.ts",
    find: "const generation = generationOf(memory.load(base + S_REFCOUNT));",
    replace: "const generation = 0;",
  },
  {
    name: "reclaiming a handle of a map of cells forgets its live guards",
    file: "protocol.ts",
    find: "memory.add(orphans, live - counted);",
    replace: "",
  },
  {
    name: "reclaiming a handle of a map of cells forgets its residual guards",
    file: "protocol.ts",
    find: "memory.add(orphans, guards - counted);",
    replace: "",
  },
  {
    name: "a copy is let go while a reclaimed handle's guards still update it",
    file: "protocol.ts",
    find: "if (memory.load(copyWord(copy, T_ORPHANS)) !== 0) return false;",
    replace: "",
  },
  {
    name: "the last orphan to leave a copy never wakes the writer",
    file: "protocol.ts",
    find: "return memory.sub(copyWord(copy, T_ORPHANS), 1) === 1;",
    replace: "memory.sub(copyWord(copy, T_ORPHANS), 1);\n  return false;",
  },
];

const SOURCES = new URL("../../src/", import.meta.url);

/** A module's source as a data: URL, its relative imports made absolute (or `redirect`ed). */
async function moduleUrl(
  file: string,
  edit: (source: string) => string,
  redirect: Record<string, string> = {},
): Promise<string> {
  let source = edit(await Deno.readTextFile(new URL(file, SOURCES)));
  source = source.replace(
    /from "\.\/([a-z_]+\.ts)"/g,
    (_, name) => `from "${redirect[name] ?? new URL(name, SOURCES).href}"`,
  );
  const bytes = new TextEncoder().encode(source);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:application/typescript;base64,${btoa(binary)}`;
}

/**
 * Loads src/protocol.ts and src/copies.ts with `mutant` applied to its file
 * (its text must occur there exactly once); copies.ts always runs on the
 * loaded protocol.
 */
export async function loadMutant(mutant: Mutant): Promise<Protocol> {
  const apply = (file: string) => (source: string) => {
    if (file !== mutant.file) return source;
    const at = source.indexOf(mutant.find);
    if (at < 0 || source.indexOf(mutant.find, at + 1) >= 0) {
      throw new Error(
        `mutant "${mutant.name}": its text must occur exactly once in src/${file}`,
      );
    }
    return source.slice(0, at) + mutant.replace +
      source.slice(at + mutant.find.length);
  };
  const protocolUrl = await moduleUrl("protocol.ts", apply("protocol.ts"));
  const copiesUrl = await moduleUrl("copies.ts", apply("copies.ts"), {
    "protocol.ts": protocolUrl,
  });
  return {
    protocol: await import(protocolUrl),
    copies: await import(copiesUrl),
  };
}
