/**
 * One map per process and name for isolates that share no code: the
 * isolates of `deno serve --parallel`, or Workers that no one hands a token
 * to. They find each other over a `BroadcastChannel` named after the map,
 * elect the one that creates it, and receive its token (`read.share()`):
 * the `SharedArrayBuffer` in it stays shared across isolates, so after the
 * election no message is sent for reading or writing.
 *
 * The election, per name:
 *
 * - A caller without the map posts a ballot with a random id, and posts it
 *   again every quarter of `joinTimeoutMs` until it has the map.
 * - Whoever holds the map (the writer, or any reader) answers every ballot
 *   with the token and the options the map was made with. A caller that
 *   gets such an answer attaches: late joiners never make a map of their
 *   own.
 * - Callers that find no map defer to the smallest ballot id they heard in
 *   the last `joinTimeoutMs`. The one that heard none smaller, for a whole
 *   `joinTimeoutMs` and two quiet ticks in a row, creates the map and
 *   announces it; the others attach when the announcement comes.
 *
 * Why ids and not the channel's order: in Deno every isolate receives the
 * others' messages in one order, but an isolate's own message reaches its
 * own channels when it is posted, not at its place in that order, so two
 * callers that post at once may each see their own ballot first. Ids give
 * every caller the same answer once it has heard the others. What it rests
 * on is that callers hear each other within `joinTimeoutMs`: an isolate
 * whose event loop is blocked for longer cannot answer.
 *
 * @module
 */

import { BroadcastChannel as RuntimeBroadcastChannel } from "node:worker_threads";
import {
  attach,
  type Codec,
  codecs,
  create,
  type MapOptions,
  type ReadHandle,
  type ReadToken,
  type WriteHandle,
} from "../mod.ts";
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_COPIES,
  DEFAULT_MAX_READERS,
} from "./defaults.ts";

/**
 * Options of {@linkcode openParallel}: the map's options, which every
 * caller of one name must give alike, and how to join.
 *
 * @typeParam K The type of the keys, from the key codec.
 * @typeParam V The type of the values, from the value codec.
 *
 * @example
 * ```ts
 * import { codecs } from "@x/flashmap";
 * import type { ParallelOptions } from "@x/flashmap/parallel";
 *
 * const options: ParallelOptions<string, number> = {
 *   key: codecs.string,
 *   value: codecs.number,
 *   maxReaders: 64,
 *   joinTimeoutMs: 500,
 *   signal: AbortSignal.timeout(10_000),
 * };
 * ```
 */
export interface ParallelOptions<K, V> extends MapOptions<K, V> {
  /**
   * How long a caller listens for the isolates that already hold the map,
   * or are starting at the same time, before it may create the map
   * (default 250 ms). The first callers of a name wait this long; later
   * ones get the map as soon as a holder answers. Raise it where an
   * isolate may keep its event loop busy for longer: a holder answers
   * from its event loop.
   */
  joinTimeoutMs?: number;
  /**
   * Gives up joining when it aborts: `openParallel()` rejects with its
   * reason. It does not end a map already joined; `close()` does.
   */
  signal?: AbortSignal;
}

/**
 * What {@linkcode openParallel} gives each caller: a read handle of the
 * process's one map of that name, and its write handle for exactly one
 * caller.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openParallel, type ParallelMap } from "@x/flashmap/parallel";
 *
 * const map: ParallelMap<string, string> = await openParallel("example-map");
 * map.write?.update((guard) => guard.set("mode", "blue"));
 * assertEquals(map.read.get("mode"), "blue");
 * map.close();
 * ```
 */
export interface ParallelMap<K, V> extends Disposable {
  /** A read handle of the map, for this isolate. */
  readonly read: ReadHandle<K, V>;
  /**
   * The map's write handle for the one caller that created it, and
   * `undefined` for every other caller.
   */
  readonly write: WriteHandle<K, V> | undefined;
  /**
   * Leaves the map: stops answering isolates that join later, then closes
   * the write handle (if this caller has it) and the read handle. The map
   * lives on while other callers hold it; once every caller has left, the
   * next `openParallel()` of the name creates a new one. Closing twice does
   * nothing. While a guard of this caller's write or read handle is live,
   * it throws that handle's `TypeError`, having done the rest: call it
   * again once the guard is released.
   *
   * @example
   * ```ts
   * import { openParallel } from "@x/flashmap/parallel";
   *
   * const map = await openParallel("example-close");
   * map.close();
   * ```
   */
  close(): void;
}

/** The default of {@linkcode ParallelOptions.joinTimeoutMs}. */
const DEFAULT_JOIN_TIMEOUT_MS = 250;
/** The longest timer delay every runtime takes. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Ballots are posted again, and the election looked at, this often. */
const TICKS_PER_TIMEOUT = 4;
/** Changes when the messages below change; other versions are refused. */
const PROTOCOL = 1;
const CHANNEL_PREFIX = "@x/flashmap/parallel:";
/**
 * The first Deno whose BroadcastChannel hands a SharedArrayBuffer to every
 * receiver; before, every receiver past the first failed to deserialize it
 * (denoland/deno#34836).
 */
const MIN_DENO: readonly [number, number, number] = [2, 8, 3];

/** The map's options as every caller must give them (defaults applied). */
interface Description {
  key: string;
  value: string;
  capacity: number;
  maxReaders: number;
  maxBytes: number;
  maxCopies: number;
  seed: number | null;
}

/** The defaults of `create()`'s options (its own constants). */
const DEFAULTS = {
  capacity: 0,
  maxReaders: DEFAULT_MAX_READERS,
  maxBytes: DEFAULT_MAX_BYTES,
  maxCopies: DEFAULT_MAX_COPIES,
} as const;

/** The fields of a description, in the order a mismatch is reported. */
const COMPARED = [
  "key",
  "value",
  "capacity",
  "maxReaders",
  "maxBytes",
  "maxCopies",
  "seed",
] as const;

type Message =
  | {
    kind: "ballot";
    protocol: number;
    from: string;
    /** Proves, when it arrives as a SharedArrayBuffer, that one can. */
    probe: SharedArrayBuffer;
  }
  | {
    kind: "map";
    protocol: number;
    from: string;
    /** The ballot answered, or `null` for the creator's announcement. */
    to: string | null;
    mapId: string;
    token: ReadToken<unknown, unknown>;
    options: Description;
  }
  | {
    kind: "failed";
    protocol: number;
    from: string;
    options: Description;
    error: { name: string; message: string };
  };

/** What this module uses of a BroadcastChannel, in every runtime. */
interface Channel {
  onmessage: ((event: { data: unknown }) => void) | null;
  onmessageerror: ((event: unknown) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
  unref?(): void;
}

/**
 * Opens the process's one map named `name`, creating it if no isolate of
 * this process holds it yet. Every isolate or worker of the process that
 * calls it with the same name gets a read handle of the same map (its
 * buffer is shared, not copied), and exactly one of them gets the write
 * handle: the caller elected to create it. A caller that comes after the
 * map exists gets a read handle of it, never a second map. Each caller
 * holds the map until it calls `close()`, and meanwhile answers later
 * callers from its event loop (this does not keep a program running).
 *
 * If the isolate with the write handle ends, the others keep reading what
 * it last published, and callers still get the map, read-only: no one gets
 * `write` again until every caller has left and a new map is created.
 *
 * The election rests on the callers of a name hearing each other within
 * `joinTimeoutMs` (see {@linkcode ParallelOptions.joinTimeoutMs}): an
 * isolate that holds the map alone and blocks its event loop for longer
 * cannot answer a newcomer, which then makes a map of its own.
 *
 * Works where `BroadcastChannel` carries a `SharedArrayBuffer` between
 * threads: Deno 2.8.3 and later (its `deno serve --parallel` isolates and
 * Web Workers), Node and Bun (`worker_threads` and Web Workers). Not in
 * browsers.
 *
 * @typeParam K The type of the keys (from `options.key`; `string` by default).
 * @typeParam V The type of the values (from `options.value`; `string` by default).
 * @param name The map's name in this process: callers that give the same
 *   name share one map.
 * @param options The map's options (the same in every caller; see
 *   {@linkcode MapOptions}), `joinTimeoutMs` and `signal`.
 * @returns The read handle, and the write handle for the one caller that
 *   created the map (`undefined` for the others).
 * @throws {TypeError} (as a rejection) When `name` is not a non-empty
 *   string or an option has the wrong type; when the map of that name was
 *   made with other options (codecs by name, `capacity`, `maxReaders`,
 *   `maxBytes`, `maxCopies`, `seed`): the message names the option and
 *   both values; when another version of this module holds the name; when
 *   this runtime's `BroadcastChannel` cannot carry a `SharedArrayBuffer`
 *   (browsers, Deno before 2.8.3).
 * @throws {RangeError} (as a rejection) When `joinTimeoutMs` is not above
 *   0, or the elected caller's `create()` refuses an option (callers with
 *   the same options get the same error).
 * @throws {ReaderLimitError} (as a rejection) When the map has no free
 *   reader slot for this caller (`maxReaders`).
 * @throws The signal's reason (as a rejection) when `options.signal`
 *   aborts before the map is joined.
 *
 * @example The only caller creates the map and gets `write`
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { codecs } from "@x/flashmap";
 * import { openParallel } from "@x/flashmap/parallel";
 *
 * using flags = await openParallel("flags", {
 *   key: codecs.string,
 *   value: codecs.json<{ on: boolean }>(),
 * });
 * assert(flags.write !== undefined); // elected: no other caller of "flags"
 * flags.write.update((guard) => guard.set("new-checkout", { on: true }));
 * assertEquals(flags.read.get("new-checkout"), { on: true });
 * ```
 *
 * @example Late joiners get the same map
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openParallel } from "@x/flashmap/parallel";
 *
 * // In `deno serve --parallel`, every isolate runs this line; here a
 * // second call stands in for a second isolate.
 * using first = await openParallel("routes");
 * first.write?.update((guard) => guard.set("/api", "10.0.0.7"));
 * using second = await openParallel("routes");
 * assertEquals(second.write, undefined); // one writer per map
 * assertEquals(second.read.get("/api"), "10.0.0.7");
 * ```
 *
 * @example Every caller must give the same options
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { codecs } from "@x/flashmap";
 * import { openParallel } from "@x/flashmap/parallel";
 *
 * using counts = await openParallel("counts", { value: codecs.number });
 * await assertRejects(
 *   () => openParallel("counts", { value: codecs.string }),
 *   TypeError,
 *   'its value codec is "number", but this call asks for "string"',
 * );
 * ```
 */
export async function openParallel<K = string, V = string>(
  name: string,
  options: ParallelOptions<K, V> = {},
): Promise<ParallelMap<K, V>> {
  const { joinTimeoutMs, signal, ...mapOptions } = checkInput<K, V>(
    name,
    options,
  );
  requireRuntime();
  signal?.throwIfAborted();
  return await new Joiner<K, V>(name, mapOptions, joinTimeoutMs, signal)
    .joined;
}

function fail(detail: string): TypeError {
  return new TypeError(`Cannot open the parallel map: ${detail}`);
}

function describeType(value: unknown): string {
  return value === null ? "null" : typeof value;
}

/** Checks the arguments' types; `create()` checks the map options' ranges. */
function checkInput<K, V>(
  name: unknown,
  options: unknown,
): MapOptions<K, V> & { joinTimeoutMs: number; signal?: AbortSignal } {
  if (typeof name !== "string") {
    throw fail(`name must be a string, got ${describeType(name)}`);
  }
  if (name === "") throw fail("name must not be empty");
  if (typeof options !== "object" || options === null) {
    throw fail(`options must be an object, got ${describeType(options)}`);
  }
  const given = options as ParallelOptions<K, V>;
  for (const role of ["key", "value"] as const) {
    const codec = given[role] as unknown;
    if (
      codec !== undefined &&
      (typeof codec !== "object" || codec === null ||
        typeof (codec as { name?: unknown }).name !== "string")
    ) {
      throw fail(`${role} must be a codec, got ${describeType(codec)}`);
    }
  }
  for (
    const field of [
      "capacity",
      "maxReaders",
      "maxBytes",
      "maxCopies",
      "seed",
      "joinTimeoutMs",
    ] as const
  ) {
    const value = given[field];
    if (value !== undefined && typeof value !== "number") {
      throw fail(`${field} must be a number, got ${describeType(value)}`);
    }
  }
  const joinTimeoutMs = given.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
  if (!(joinTimeoutMs > 0 && joinTimeoutMs <= MAX_TIMEOUT_MS)) {
    throw new RangeError(
      `Cannot open the parallel map: joinTimeoutMs must be above 0 and at most ${MAX_TIMEOUT_MS}, got ${joinTimeoutMs}`,
    );
  }
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) {
    throw fail(
      `signal must be an AbortSignal, got ${describeType(given.signal)}`,
    );
  }
  return { ...given, joinTimeoutMs };
}

/** Refuses runtimes whose BroadcastChannel cannot carry the map's buffer. */
function requireRuntime(): void {
  if (typeof SharedArrayBuffer !== "function") {
    throw fail("SharedArrayBuffer is not available here");
  }
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } })
    .Deno?.version?.deno;
  if (deno === undefined) return;
  const version = deno.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) {
    if (version[i] > MIN_DENO[i]) return;
    if (version[i] < MIN_DENO[i]) {
      throw fail(
        `it needs Deno ${
          MIN_DENO.join(".")
        } or later, whose BroadcastChannel hands a SharedArrayBuffer to every receiver; this is Deno ${deno}`,
      );
    }
  }
}

function describe<K, V>(options: MapOptions<K, V>): Description {
  return {
    key: (options.key ?? codecs.string).name,
    value: (options.value ?? codecs.string).name,
    capacity: options.capacity ?? DEFAULTS.capacity,
    maxReaders: options.maxReaders ?? DEFAULTS.maxReaders,
    maxBytes: options.maxBytes ?? DEFAULTS.maxBytes,
    maxCopies: options.maxCopies ?? DEFAULTS.maxCopies,
    seed: options.seed ?? null,
  };
}

function same(a: Description, b: Description): boolean {
  return COMPARED.every((field) => a[field] === b[field]);
}

/** The first option in which the map differs from what this call asks for. */
function mismatch(
  name: string,
  map: Description,
  wanted: Description,
): TypeError | undefined {
  const field = COMPARED.find((field) => map[field] !== wanted[field]);
  if (field === undefined) return undefined;
  const show = (value: string | number | null) =>
    value === null
      ? "a random one"
      : typeof value === "string"
      ? `"${value}"`
      : String(value);
  const option = field === "key" || field === "value"
    ? `${field} codec`
    : field;
  return new TypeError(
    `Cannot join the parallel map "${name}": its ${option} is ${
      show(map[field])
    }, but this call asks for ${show(wanted[field])}`,
  );
}

function isMessage(data: unknown): data is Message {
  if (typeof data !== "object" || data === null) return false;
  const message = data as Partial<Message>;
  return typeof message.protocol === "number" &&
    typeof message.from === "string" &&
    (message.kind === "ballot" || message.kind === "map" ||
      message.kind === "failed");
}

/** Whether `value` is a description: every compared option, of its type. */
function isDescription(value: unknown): value is Description {
  if (typeof value !== "object" || value === null) return false;
  const given = value as Record<string, unknown>;
  return COMPARED.every((field) =>
    field === "key" || field === "value"
      ? typeof given[field] === "string"
      : field === "seed"
      ? given[field] === null || typeof given[field] === "number"
      : typeof given[field] === "number"
  );
}

/**
 * Whether a message of this protocol has every field this module reads:
 * one that lacks some (a bug elsewhere, or a stray sender on the channel)
 * is ignored, never thrown from the channel's handler, where it would end
 * the isolate.
 */
function isWellFormed(message: Message): boolean {
  switch (message.kind) {
    case "ballot":
      return true; // its probe is checked where it matters
    case "map":
      return (message.to === null || typeof message.to === "string") &&
        typeof message.mapId === "string" && isDescription(message.options);
    case "failed":
      return isDescription(message.options) &&
        typeof message.error === "object" && message.error !== null &&
        typeof message.error.name === "string" &&
        typeof message.error.message === "string";
  }
}

/** An error like `error`, rebuilt from its name and message. */
function rebuild(error: { name: string; message: string }): Error {
  const kinds: Record<string, ErrorConstructor> = { TypeError, RangeError };
  const copy = new (kinds[error.name] ?? Error)(error.message);
  if (!(error.name in kinds)) copy.name = error.name;
  return copy;
}

/** One caller of `openParallel()`: joins, then answers later callers. */
class Joiner<K, V> {
  /** Settles when this caller has the map, or cannot get it. */
  readonly joined: Promise<ParallelMap<K, V>>;
  readonly #id = crypto.randomUUID();
  readonly #name: string;
  readonly #options: MapOptions<K, V>;
  readonly #wanted: Description;
  readonly #timeoutMs: number;
  readonly #tickMs: number;
  readonly #signal: AbortSignal | undefined;
  #channel: Channel;
  readonly #probe = new SharedArrayBuffer(4);
  #resolve!: (map: ParallelMap<K, V>) => void;
  #reject!: (error: unknown) => void;
  #done = false;

  // While joining.
  readonly #started = performance.now();
  #lastTick = this.#started;
  /** Ticks in a row with no smaller ballot alive. */
  #quietTicks = 0;
  /** The ballot ids heard, and when each was heard last. */
  readonly #rivals = new Map<string, number>();
  #tick: ReturnType<typeof setTimeout> | undefined;

  // Once joined: what later callers are told.
  #held:
    | { mapId: string; token: ReadToken<K, V>; options: Description }
    | undefined;
  #writer = false;
  /** Answers not yet posted, by the ballot they answer. */
  readonly #answers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    name: string,
    options: MapOptions<K, V>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ) {
    this.#name = name;
    this.#options = options;
    this.#wanted = describe(options);
    this.#timeoutMs = timeoutMs;
    this.#tickMs = timeoutMs / TICKS_PER_TIMEOUT;
    this.#signal = signal;
    this.joined = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Subscribe before the first ballot, so no answer to it is missed.
    this.#channel = this.#open();
    signal?.addEventListener("abort", this.#abort);
    this.#ballot();
    if (!this.#done) this.#schedule();
  }

  readonly #abort = () => this.#fail(this.#signal?.reason);

  #open(): Channel {
    const channel = new RuntimeBroadcastChannel(
      CHANNEL_PREFIX + this.#name,
    ) as unknown as Channel;
    // Answering later callers is passive: it must not keep a program
    // alive. (While joining, the tick timer does.)
    channel.unref?.();
    channel.onmessage = (event) => this.#receive(event.data);
    channel.onmessageerror = () => {
      if (!this.#done) {
        this.#fail(fail(
          "a message on its BroadcastChannel could not be received here; this runtime's BroadcastChannel does not carry a SharedArrayBuffer",
        ));
      }
    };
    return channel;
  }

  #post(message: Message): boolean {
    for (let attempt = 0;; attempt++) {
      try {
        this.#channel.postMessage(message);
        return true;
      } catch (error) {
        // Deno (2.9) leaves a channel made while the isolate's last other
        // channel is closing without a subscription: it receives nothing,
        // and posting on it throws a TypeError ("expected i32") from the
        // next turn on. A new channel subscribes again; what was missed
        // meanwhile comes again, since ballots are repeated and answered.
        const cloneError = error instanceof DOMException &&
          error.name === "DataCloneError";
        if (attempt === 0 && !cloneError) {
          // The new channel first: closing the old one must not leave the
          // isolate without channels, which starts the same race again.
          const old = this.#channel;
          this.#channel = this.#open();
          old.onmessage = null;
          old.onmessageerror = null;
          old.close();
          continue;
        }
        if (!this.#done) {
          this.#fail(fail(
            `its BroadcastChannel cannot carry a SharedArrayBuffer here (${
              error instanceof Error ? error.message : String(error)
            })`,
          ));
        }
        return false;
      }
    }
  }

  #ballot(): void {
    this.#post({
      kind: "ballot",
      protocol: PROTOCOL,
      from: this.#id,
      probe: this.#probe,
    });
  }

  #schedule(): void {
    this.#tick = setTimeout(() => this.#onTick(), this.#tickMs);
  }

  /** Posts the ballot again and creates the map once it is sure to. */
  #onTick(): void {
    if (this.#done) return;
    const now = performance.now();
    // A tick this late means the event loop was blocked: messages that came
    // meanwhile may not be read yet, so this tick does not count as quiet.
    const late = now - this.#lastTick > 2 * this.#tickMs;
    this.#lastTick = now;
    this.#ballot();
    if (this.#done) return; // the post failed
    let smaller = false;
    for (const [id, heard] of this.#rivals) {
      if (now - heard > this.#timeoutMs) this.#rivals.delete(id); // gone
      else if (id < this.#id) smaller = true;
    }
    if (smaller) this.#quietTicks = 0;
    else if (!late) this.#quietTicks++;
    if (this.#quietTicks >= 2 && now - this.#started >= this.#timeoutMs) {
      this.#createMap();
    } else {
      this.#schedule();
    }
  }

  #receive(data: unknown): void {
    if (data === null || data === undefined) {
      // Every message of this channel is an object: Chromium, for one,
      // delivers a message that held a SharedArrayBuffer as null.
      if (!this.#done) {
        this.#fail(fail(
          "a message on its BroadcastChannel arrived empty; this runtime's BroadcastChannel does not carry a SharedArrayBuffer",
        ));
      }
      return;
    }
    if (!isMessage(data) || data.from === this.#id) return;
    if (data.protocol !== PROTOCOL) {
      if (this.#held !== undefined) {
        // Answer another version's ballot all the same: hearing this
        // protocol, it refuses to join, rather than hear nothing and make
        // a second map.
        if (data.kind === "ballot") this.#answerLater(data);
      } else if (!this.#done) {
        this.#fail(fail(
          `another version of @x/flashmap/parallel (protocol ${data.protocol}, this one speaks ${PROTOCOL}) uses the name "${this.#name}"`,
        ));
      }
      return;
    }
    if (!isWellFormed(data)) return;
    if (this.#held !== undefined) {
      this.#answerLater(data);
    } else if (!this.#done) {
      this.#join(data);
    }
  }

  /** While joining: note rivals, adopt a map, or share a leader's failure. */
  #join(message: Message): void {
    switch (message.kind) {
      case "ballot":
        if (!(message.probe instanceof SharedArrayBuffer)) {
          this.#fail(fail(
            "this runtime's BroadcastChannel does not carry a SharedArrayBuffer",
          ));
          return;
        }
        this.#rivals.set(message.from, performance.now());
        return;
      case "failed":
        this.#rivals.delete(message.from);
        // The same options would fail the same way here.
        if (same(message.options, this.#wanted)) {
          this.#fail(rebuild(message.error));
        }
        return;
      case "map":
        this.#adopt(message);
        return;
    }
  }

  #adopt(message: Extract<Message, { kind: "map" }>): void {
    const token = message.token as ReadToken<K, V>;
    if (
      typeof token !== "object" || token === null ||
      !(token.buffer instanceof SharedArrayBuffer)
    ) {
      this.#fail(fail(
        "the map's token arrived without its SharedArrayBuffer; this runtime's BroadcastChannel does not carry one",
      ));
      return;
    }
    const wrong = mismatch(this.#name, message.options, this.#wanted);
    if (wrong !== undefined) {
      this.#fail(wrong);
      return;
    }
    let read: ReadHandle<K, V>;
    try {
      read = attach(token, {
        key: this.#options.key,
        value: this.#options.value as Codec<V> | undefined,
      });
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#hold(message.mapId, token, message.options);
    this.#succeed(read, undefined);
  }

  /** Elected: creates the map, announces it, and answers from now on. */
  #createMap(): void {
    let write: WriteHandle<K, V>;
    let read: ReadHandle<K, V>;
    try {
      [write, read] = create<K, V>(this.#options);
    } catch (error) {
      this.#post({
        kind: "failed",
        protocol: PROTOCOL,
        from: this.#id,
        options: this.#wanted,
        error: error instanceof Error
          ? { name: error.name, message: error.message }
          : { name: "Error", message: String(error) },
      });
      this.#fail(error);
      return;
    }
    const mapId = crypto.randomUUID();
    this.#writer = true;
    this.#hold(mapId, read.share(), this.#wanted);
    this.#answer(null);
    this.#succeed(read, write);
  }

  #hold(mapId: string, token: ReadToken<K, V>, options: Description): void {
    this.#held = { mapId, token, options };
    this.#rivals.clear();
  }

  /**
   * Once joined: answers a ballot. The writer answers at once; a reader
   * waits a little and stays silent if someone answered meanwhile, so a
   * ballot gets one answer, not one per isolate, while the writer lives.
   */
  #answerLater(message: Message): void {
    if (message.kind === "map") {
      if (message.to !== null) {
        clearTimeout(this.#answers.get(message.to));
        this.#answers.delete(message.to);
      }
      return;
    }
    if (message.kind !== "ballot" || this.#answers.has(message.from)) return;
    if (this.#writer) {
      this.#answer(message.from);
      return;
    }
    const delay = (this.#tickMs / 2) * (1 + Math.random());
    this.#answers.set(
      message.from,
      setTimeout(() => {
        this.#answers.delete(message.from);
        this.#answer(message.from);
      }, delay),
    );
  }

  #answer(to: string | null): void {
    const held = this.#held!;
    this.#post({
      kind: "map",
      protocol: PROTOCOL,
      from: this.#id,
      to,
      mapId: held.mapId,
      token: held.token,
      options: held.options,
    });
  }

  #succeed(read: ReadHandle<K, V>, write: WriteHandle<K, V> | undefined) {
    this.#done = true;
    clearTimeout(this.#tick);
    this.#signal?.removeEventListener("abort", this.#abort);
    // Every step may be repeated, so a close() that threw (a guard was
    // live) can be called again once the guard is released.
    const close = () => {
      this.#leave();
      try {
        write?.close();
      } finally {
        read.close();
      }
    };
    this.#resolve({ read, write, close, [Symbol.dispose]: close });
  }

  #fail(error: unknown): void {
    this.#done = true;
    this.#leave();
    this.#reject(error);
  }

  /** Stops taking part: no more ballots, answers or messages. */
  #leave(): void {
    clearTimeout(this.#tick);
    for (const timer of this.#answers.values()) clearTimeout(timer);
    this.#answers.clear();
    this.#held = undefined;
    this.#signal?.removeEventListener("abort", this.#abort);
    this.#channel.onmessage = null;
    this.#channel.onmessageerror = null;
    this.#channel.close();
  }
}
