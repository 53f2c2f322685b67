/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A "zombie" reader worker for the tests: it attaches, opens a guard, then
 * stays busy in synchronous code, so that `worker.terminate()` does not stop
 * it (in Deno a worker stops only when it returns to its event loop). When
 * the test says go, it uses its handle again, late, and reports through
 * shared words what each step did, since messages posted after
 * `terminate()` are never delivered.
 *
 * Requests: `{ type: "attach", token, flags }` (replies with the handle's
 * id), then `{ type: "hold", actions }`: opens a guard, replies with what it
 * reads, and spins until `flags[GO]` is set (bounded), then runs `actions`
 * in order. Or, without spinning: `open` (a guard), `releaseAt` (releases it
 * `offset` frames above the stack limit) and `release`.
 */
import {
  attach,
  codecs,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

/**
 * Indexes of the shared words (an `Int32Array` the test passes in), and
 * the codes written there: mirrored in zombie_test.ts, which cannot import
 * this module (it runs as a worker).
 */
const GO = 0;
const STAGE = 1;
/** The outcome of action `i` is at `OUTCOMES + i`. */
const OUTCOMES = 2;
/** The most actions one run may take. */
const MAX_ACTIONS = 10;
/** `guard.released` of the held guard after the actions (1 or 0). */
const HELD_RELEASED = OUTCOMES + MAX_ACTIONS;
/** `read.closed` after the actions (1 or 0). */
const CLOSED = HELD_RELEASED + 1;
/** Length in UTF-16 units of the first unexpected error's text. */
const MESSAGE_LENGTH = CLOSED + 1;
/** Where that text starts (one unit a word). */
const MESSAGE = MESSAGE_LENGTH + 1;
/** At most this many units of it (the test gives `MESSAGE + MESSAGE_WORDS` words). */
const MESSAGE_WORDS = 200;

/** `flags[STAGE]` */
const SPINNING = 1;
const DONE = 2;
/** The test never said go within the worker's bound. */
const GAVE_UP = 3;

/** Outcomes of an action (0: not run). */
const OK = 1;
const TYPE_ERROR_RECLAIMED = 2;
const TYPE_ERROR_CLOSED = 3;
const OTHER_ERROR = 4;

/**
 * What the zombie does late: leave its held guard, open a new guard (and
 * leave it, if that worked), one-shot reads, clone, close.
 */
type Action =
  | "release"
  | "enter"
  | "get"
  | "has"
  | "clone"
  | "close";

/** The longest the worker spins waiting for go: a bound, not a timing. */
const SPIN_SLICES = 6000;
const SLICE_MS = 10;

let read: ReadHandle<string, number> | undefined;
let flags: Int32Array | undefined;
let held: ReadGuard<string, number> | undefined;

function note(error: unknown): void {
  const words = flags!;
  if (words[MESSAGE_LENGTH] !== 0) return;
  const text = String(error).slice(0, MESSAGE_WORDS);
  for (let i = 0; i < text.length; i++) words[MESSAGE + i] = text.charCodeAt(i);
  words[MESSAGE_LENGTH] = text.length;
}

function outcome(error: unknown): number {
  if (error instanceof TypeError) {
    if (/reclaimed/.test(error.message)) return TYPE_ERROR_RECLAIMED;
    if (/closed/.test(error.message)) return TYPE_ERROR_CLOSED;
  }
  note(error);
  return OTHER_ERROR;
}

function run(action: Action): void {
  const handle = read!;
  switch (action) {
    case "release":
      held!.release();
      return;
    case "enter": {
      const guard = handle.guard();
      guard.get("v");
      guard.release();
      return;
    }
    case "get":
      handle.get("v");
      return;
    case "has":
      handle.has("v");
      return;
    case "clone":
      handle.clone().close();
      return;
    case "close":
      handle.close();
      return;
  }
}

function late(actions: Action[]): void {
  const words = flags!;
  for (let i = 0; i < actions.length && i < MAX_ACTIONS; i++) {
    let result = OK;
    try {
      run(actions[i]);
    } catch (error) {
      result = outcome(error);
    }
    Atomics.store(words, OUTCOMES + i, result);
  }
  Atomics.store(words, HELD_RELEASED, held!.released ? 1 : 0);
  Atomics.store(words, CLOSED, read!.closed ? 1 : 0);
}

/**
 * Runs `action` once, `offset` frames above the deepest frame the stack
 * allows (as in hardening_test.ts). Returns the error it threw, if any.
 */
function nearStackLimit(offset: number, action: () => void): unknown {
  let error: unknown = undefined;
  let above = -1;
  const down = (): void => {
    try {
      down();
    } catch {
      if (above < 0) above = 0;
    }
    if (above === offset) {
      try {
        action();
      } catch (thrown) {
        error = thrown;
      }
    }
    above++;
  };
  down();
  return error;
}

type Request =
  | { type: "attach"; token: ReadToken<string, number>; flags: Int32Array }
  | { type: "hold"; actions: Action[] }
  | { type: "open" }
  | { type: "releaseAt"; offset: number }
  | { type: "release" };

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    if (request.type === "attach") {
      flags = request.flags;
      read = attach(request.token, {
        key: codecs.string,
        value: codecs.number,
      });
      self.postMessage({ type: "attach", id: read.id });
      return;
    }
    if (request.type === "open") {
      held = read!.guard();
      self.postMessage({ type: "open", value: held.get("v") ?? null });
      return;
    }
    if (request.type === "releaseAt") {
      // Releases the held guard near the stack limit, then goes back to
      // the event loop without touching the handle again.
      const guard = held!;
      const error = nearStackLimit(request.offset, () => guard.release());
      self.postMessage({
        type: "releaseAt",
        released: guard.released,
        failure: error === undefined ? null : String(error),
      });
      return;
    }
    if (request.type === "release") {
      held!.release();
      self.postMessage({ type: "release" });
      return;
    }
    const words = flags!;
    held = read!.guard();
    self.postMessage({ type: "hold", value: held.get("v") ?? null });
    Atomics.store(words, STAGE, SPINNING);
    // Busy in synchronous code: terminate() cannot stop this thread here.
    let slices = 0;
    while (Atomics.load(words, GO) === 0 && slices < SPIN_SLICES) {
      Atomics.wait(words, GO, 0, SLICE_MS);
      slices++;
    }
    if (Atomics.load(words, GO) === 0) {
      Atomics.store(words, STAGE, GAVE_UP);
      return;
    }
    late(request.actions);
    Atomics.store(words, STAGE, DONE);
    Atomics.notify(words, STAGE);
  } catch (error) {
    if (flags !== undefined) note(error);
    self.postMessage({ type: request.type, error: String(error) });
  }
};

self.postMessage({ type: "ready" });
