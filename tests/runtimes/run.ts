/**
 * Runs the runtime suite (`suite.ts`) on the runtimes the library claims,
 * on what their users get: the library bundled by `deno bundle` into one
 * ES module, installed as `node_modules/@x/flashmap` for Node and Bun and
 * served with COOP/COEP to headless Chromium; and, where the runtime runs
 * TypeScript, the sources themselves. On Node, Bun and Deno, `main.ts`
 * also runs the checks of `@x/flashmap/parallel` (`parallel_suite.ts`),
 * bundled as a second module of the package that imports the first.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env \
 *   --allow-net=127.0.0.1 tests/runtimes/run.ts [--quiet] [RUNTIME...]
 * ```
 *
 * RUNTIME is one of:
 *
 * - `all` (the default): each of the ones below that this machine has or
 *   can fetch; one that it cannot get is skipped with one line that says
 *   how to get it;
 * - `deno`: the TypeScript sources, in this Deno;
 * - `node`: the bundle on the `node` on PATH (Node 20 has no global Worker:
 *   `worker_threads` only), then Node 24 from npm (the `node-<os>-<arch>`
 *   package), fetched into the cache, on the bundle and on the sources;
 * - `bun`: Bun from npm, fetched into the cache, on the bundle and on the
 *   sources, with Web Workers and `worker_threads`;
 * - `browser`: Chromium (`chromium` on PATH, or `CHROME_PATH`), headless,
 *   against a static server on 127.0.0.1 that sends COOP/COEP; it reads
 *   the page's results through the DevTools protocol;
 * - `fetch`: only fetches Bun and Node from npm into the cache;
 * - `serve`: bundles, then serves the browser page on 127.0.0.1 until
 *   stopped, to open in any browser (`serve 8000` picks the port).
 *
 * `--quiet` leaves out the lines of checks that passed.
 *
 * A runtime named on the command line must run. So must those listed in
 * `FLASHMAP_REQUIRE` (comma-separated, as `.ci/run` sets it). The cache is
 * `FLASHMAP_CACHE`, else `$XDG_CACHE_HOME/flashmap`, else
 * `~/.cache/flashmap`. Exits non-zero when a check fails or a required
 * runtime could not run. Every child has a deadline, and every wait a
 * bound; times are printed, never asserted.
 *
 * @module
 */

const BUN_VERSION = "1.4.4";
const NODE_MAJOR = "24";
/** A guard against a hung runtime, not a timing assertion. */
const RUN_DEADLINE_MS = 300_000;

const repo = new URL("../../", import.meta.url);
const here = new URL("./", import.meta.url);
const path = (url: URL) => decodeURIComponent(url.pathname);

/** What one runtime gave. */
interface Outcome {
  name: string;
  passed: number;
  failed: number;
  ms: number;
  skipped?: string;
  /** What failed, beyond the checks' own lines. */
  problems: string[];
  /** What did not run, without failing. */
  notes: string[];
}

/** With `--quiet`, the lines of checks that passed are not shown. */
let quiet = false;

/** Prints a line of a runtime's output. */
function say(line: string): void {
  if (!(quiet && line.startsWith("ok   "))) console.log(line);
}

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

function cacheDir(): string {
  const base = env("FLASHMAP_CACHE");
  if (base !== undefined) return base;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg !== undefined) return `${xdg}/flashmap`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home === undefined) throw new Error("set FLASHMAP_CACHE or HOME");
  return `${home}/.cache/flashmap`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await Deno.stat(file);
    return true;
  } catch {
    return false;
  }
}

/** An executable named `name` on PATH. */
async function which(name: string): Promise<string | undefined> {
  const sep = Deno.build.os === "windows" ? ";" : ":";
  for (const dir of (env("PATH") ?? "").split(sep)) {
    if (dir === "") continue;
    const file = `${dir}/${name}`;
    try {
      const info = await Deno.stat(file);
      if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) {
        return file;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

interface Ran {
  code: number;
  output: string;
}

/**
 * Runs a command; with `echo`, prints its output line by line as it comes.
 * Killed past `deadlineMs`.
 */
async function exec(
  command: string,
  args: string[],
  options: { cwd?: string; echo?: boolean; deadlineMs?: number } = {},
): Promise<Ran> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.deadlineMs ?? RUN_DEADLINE_MS);
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      if (!options.echo) continue;
      pending += chunk;
      const cut = pending.lastIndexOf("\n");
      if (cut >= 0) {
        for (const line of pending.slice(0, cut).split("\n")) say(line);
        pending = pending.slice(cut + 1);
      }
    }
    if (options.echo && pending !== "") say(pending);
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout),
    pump(child.stderr),
  ]);
  clearTimeout(timer);
  return { code: status.signal === null ? status.code : 128, output };
}

// --- Bundles and sources --------------------------------------------------

interface Builds {
  /** main.js, worker_*.js, node_modules/@x/flashmap: for Node and Bun. */
  bundle: string;
  /** index.html, plain.html and the browser's modules. */
  web: string;
  /** The TypeScript sources, the library import pointing at them. */
  sources: string;
}

const SUITE_FILES = [
  "suite.ts",
  "main.ts",
  "worker_core.ts",
  "worker_node.ts",
  "worker_web.ts",
  "parallel_suite.ts",
  "parallel_worker_node.ts",
  "parallel_worker_web.ts",
];

/** The library's entry points the bundles leave to `node_modules`. */
const LIBRARY_SPECIFIERS = ["@x/flashmap", "@x/flashmap/parallel"];

async function denoBundle(
  entry: string,
  output: string,
  platform: "browser" | "deno",
  external: boolean,
): Promise<void> {
  const args = [
    "bundle",
    "--quiet",
    "--no-lock",
    `--platform=${platform}`,
    ...(external
      ? LIBRARY_SPECIFIERS.flatMap((specifier) => ["--external", specifier])
      : []),
    "--config",
    path(new URL("deno.json", repo)),
    "--output",
    output,
    entry,
  ];
  const ran = await exec(Deno.execPath(), args, { cwd: path(repo) });
  if (ran.code !== 0) {
    throw new Error(`deno bundle ${entry} failed:\n${ran.output}`);
  }
}

/** Replaces the library's specifier; fails if it is not there. */
function pointAt(text: string, specifier: string, file: string): string {
  const from = /from\s*"@x\/flashmap"/g;
  if (!from.test(text)) throw new Error(`${file} does not import @x/flashmap`);
  return text.replace(from, `from "${specifier}"`);
}

/** Replaces `@x/flashmap/parallel`, where a file imports it. */
function pointParallelAt(text: string, specifier: string): string {
  return text.replace(
    /from\s*"@x\/flashmap\/parallel"/g,
    `from "${specifier}"`,
  );
}

/** Copies the `.ts` files of `from`, and of its folders, into `to`. */
async function copyTypeScript(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) {
      await copyTypeScript(`${from}/${entry.name}`, `${to}/${entry.name}`);
    } else if (entry.isFile && entry.name.endsWith(".ts")) {
      await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  }
}

const PAGE = (title: string) =>
  `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="data:,">
<h1>${title}</h1>
<pre id="log">running…</pre>
<script type="module" src="/browser.js"></script>
</html>
`;

/**
 * Bundles the library and the suite, and copies the sources, into a new
 * folder of the cache (runs at the same time do not share one).
 */
async function build(cache: string): Promise<Builds & { dir: string }> {
  await Deno.mkdir(cache, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: cache, prefix: "build-" });
  try {
    return await buildInto(dir);
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function buildInto(dir: string): Promise<Builds & { dir: string }> {
  const bundle = `${dir}/bundle`;
  const web = `${dir}/web`;
  const sources = `${dir}/sources`;
  const library = `${bundle}/node_modules/@x/flashmap`;
  for (const folder of [library, web, `${sources}/lib/src`, `${sources}/t`]) {
    await Deno.mkdir(folder, { recursive: true });
  }

  // The library, as one ES module: what `import "@x/flashmap"` loads.
  await denoBundle("mod.ts", `${library}/mod.js`, "browser", false);
  // `@x/flashmap/parallel`, importing that module rather than a copy of
  // its own (a second copy would not know the first one's codecs).
  const parallelEntry = `${dir}/parallel_entry.ts`;
  await Deno.writeTextFile(
    parallelEntry,
    (await Deno.readTextFile(path(new URL("src/parallel.ts", repo))))
      .replace(/from\s*"\.\.\/mod\.ts"/g, 'from "@x/flashmap"'),
  );
  // Its one import of the library's own files: the defaults, which import
  // nothing.
  await Deno.copyFile(
    path(new URL("src/defaults.ts", repo)),
    `${dir}/defaults.ts`,
  );
  await denoBundle(parallelEntry, `${library}/parallel.js`, "deno", true);
  const meta = JSON.parse(
    await Deno.readTextFile(path(new URL("deno.json", repo))),
  );
  await Deno.writeTextFile(
    `${library}/package.json`,
    JSON.stringify(
      {
        name: "@x/flashmap",
        version: meta.version,
        type: "module",
        exports: { ".": "./mod.js", "./parallel": "./parallel.js" },
      },
      null,
      2,
    ),
  );
  await Deno.writeTextFile(
    `${bundle}/package.json`,
    JSON.stringify({ private: true, type: "module" }),
  );
  for (
    const name of [
      "main",
      "worker_node",
      "worker_web",
      "parallel_worker_node",
      "parallel_worker_web",
    ]
  ) {
    await denoBundle(
      path(new URL(`${name}.ts`, here)),
      `${bundle}/${name}.js`,
      "deno",
      true,
    );
  }

  // The browser: the same library file, next to the page's modules.
  await Deno.copyFile(`${library}/mod.js`, `${web}/flashmap.js`);
  for (const name of ["browser", "worker_web"]) {
    const file = `${web}/${name}.js`;
    await denoBundle(path(new URL(`${name}.ts`, here)), file, "browser", true);
    await Deno.writeTextFile(
      file,
      pointAt(await Deno.readTextFile(file), "./flashmap.js", file),
    );
  }
  await Deno.writeTextFile(`${web}/index.html`, PAGE("flashmap runtime suite"));
  await Deno.writeTextFile(
    `${web}/plain.html`,
    PAGE("flashmap without COOP/COEP"),
  );

  // The sources, for runtimes that run TypeScript (Node refuses to strip
  // types under node_modules, so the suite imports the library by path).
  for (const file of ["mod.ts", "parallel.ts"]) {
    await Deno.copyFile(path(new URL(file, repo)), `${sources}/lib/${file}`);
  }
  await copyTypeScript(path(new URL("src/", repo)), `${sources}/lib/src`);
  for (const name of SUITE_FILES) {
    const text = await Deno.readTextFile(path(new URL(name, here)));
    await Deno.writeTextFile(
      `${sources}/t/${name}`,
      pointParallelAt(
        text.includes('"@x/flashmap"')
          ? pointAt(text, "../lib/mod.ts", name)
          : text,
        "../lib/parallel.ts",
      ),
    );
  }
  await Deno.writeTextFile(
    `${sources}/package.json`,
    JSON.stringify({ private: true, type: "module" }),
  );
  return { dir, bundle, web, sources };
}

// --- Runtimes from npm ----------------------------------------------------

async function npmInstall(prefix: string, spec: string): Promise<string[]> {
  const npm = await which(Deno.build.os === "windows" ? "npm.cmd" : "npm");
  if (npm === undefined) return ["npm is not on PATH"];
  console.log(`fetching ${spec} from npm into ${prefix}`);
  await Deno.mkdir(prefix, { recursive: true });
  const ran = await exec(npm, [
    "install",
    "--prefix",
    prefix,
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    spec,
  ], { deadlineMs: 600_000 });
  const lines = ran.output.split("\n").filter((line) =>
    line.trim() !== "" && !line.includes("complete log of this run")
  );
  const why = lines.find((line) => line.startsWith("npm error")) ??
    lines.pop() ?? `exit ${ran.code}`;
  return ran.code === 0 ? [] : [`npm install ${spec} failed: ${why}`];
}

/** Bun from npm in the cache, fetched on first use. */
async function getBun(cache: string): Promise<string | { why: string }> {
  const prefix = `${cache}/bun-${BUN_VERSION}`;
  const bin = `${prefix}/node_modules/bun/bin/bun.exe`;
  if (!(await exists(bin))) {
    const problems = await npmInstall(prefix, `bun@${BUN_VERSION}`);
    if (problems.length > 0 || !(await exists(bin))) {
      return {
        why: `could not fetch bun@${BUN_VERSION} from npm (${
          problems.join("; ") || "no binary"
        })`,
      };
    }
  }
  return bin;
}

/** Node 24 from npm (the package with the binary) in the cache. */
async function getNewerNode(cache: string): Promise<string | { why: string }> {
  const os = { linux: "linux", darwin: "darwin" }[Deno.build.os as string];
  const arch = { x86_64: "x64", aarch64: "arm64" }[Deno.build.arch as string];
  if (os === undefined || arch === undefined) {
    return { why: `no Node package for ${Deno.build.os} ${Deno.build.arch}` };
  }
  const name = `node-${os}-${arch}`;
  const prefix = `${cache}/node-${NODE_MAJOR}`;
  const bin = `${prefix}/node_modules/${name}/bin/node`;
  if (!(await exists(bin))) {
    const problems = await npmInstall(prefix, `${name}@${NODE_MAJOR}`);
    if (problems.length > 0 || !(await exists(bin))) {
      return {
        why: `could not fetch ${name}@${NODE_MAJOR} from npm (${
          problems.join("; ") || "no binary"
        })`,
      };
    }
  }
  return bin;
}

// --- Node, Bun, Deno --------------------------------------------------------

/** Runs `main` of the suite with `command`; counts the totals it printed. */
async function runMain(
  outcome: Outcome,
  command: string,
  args: string[],
  cwd: string,
): Promise<void> {
  const ran = await exec(command, args, { cwd, echo: true });
  const totals = [...ran.output.matchAll(/: (\d+) passed, (\d+) failed/g)];
  if (totals.length === 0) {
    outcome.failed++;
    outcome.problems.push(
      `${command} ${args.join(" ")} printed no totals (exit ${ran.code})`,
    );
    return;
  }
  const [, passed, failed] = totals[totals.length - 1];
  outcome.passed += Number(passed);
  outcome.failed += Number(failed);
  if (ran.code !== 0 && Number(failed) === 0) {
    outcome.failed++;
    outcome.problems.push(`${command} ${args.join(" ")} exited ${ran.code}`);
  }
}

function newOutcome(name: string): Outcome {
  return { name, passed: 0, failed: 0, ms: 0, problems: [], notes: [] };
}

async function runDeno(builds: Builds): Promise<Outcome> {
  const outcome = newOutcome("deno");
  await runMain(outcome, Deno.execPath(), [
    "run",
    "--no-lock",
    `--allow-read=${builds.sources}`,
    "--no-config",
    "t/main.ts",
  ], builds.sources);
  return outcome;
}

async function runNode(builds: Builds, cache: string): Promise<Outcome> {
  const outcome = newOutcome("node");
  const node = await which("node");
  if (node !== undefined) {
    await runMain(outcome, node, ["main.js"], builds.bundle);
  }
  const newer = await getNewerNode(cache);
  if (typeof newer === "string") {
    await runMain(outcome, newer, ["main.js"], builds.bundle);
    await runMain(outcome, newer, ["t/main.ts"], builds.sources);
  } else if (node !== undefined) {
    outcome.notes.push(`Node ${NODE_MAJOR} skipped: ${newer.why}`);
  } else {
    outcome.skipped = `no \`node\` on PATH, and ${newer.why}`;
  }
  return outcome;
}

async function runBun(builds: Builds, cache: string): Promise<Outcome> {
  const outcome = newOutcome("bun");
  const bun = await getBun(cache);
  if (typeof bun !== "string") {
    outcome.skipped = bun.why;
    return outcome;
  }
  await runMain(outcome, bun, ["main.js"], builds.bundle);
  await runMain(outcome, bun, ["t/main.ts"], builds.sources);
  return outcome;
}

// --- The browser ------------------------------------------------------------

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
};

/**
 * Serves the page and its modules on 127.0.0.1. Everything is sent with
 * COOP/COEP except `/plain/`, a page that is not cross-origin isolated.
 */
function serve(web: string, port = 0): Deno.HttpServer<Deno.NetAddr> {
  const files: Record<string, [string, boolean]> = {
    "/": ["index.html", true],
    "/index.html": ["index.html", true],
    "/plain/": ["plain.html", false],
    "/browser.js": ["browser.js", true],
    "/worker_web.js": ["worker_web.js", true],
    "/flashmap.js": ["flashmap.js", true],
  };
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (request) => {
      const found = files[new URL(request.url).pathname];
      if (found === undefined) {
        return new Response("not found", { status: 404 });
      }
      const [name, isolated] = found;
      const headers = new Headers({
        "content-type": TYPES[name.split(".").pop()!],
        "cache-control": "no-store",
      });
      if (isolated) {
        headers.set("Cross-Origin-Opener-Policy", "same-origin");
        headers.set("Cross-Origin-Embedder-Policy", "require-corp");
      }
      return new Response(await Deno.readFile(`${web}/${name}`), { headers });
    },
  );
}

async function findChromium(): Promise<string | undefined> {
  const named = env("CHROME_PATH");
  if (named !== undefined) return named;
  for (
    const name of [
      "chromium",
      "chromium-browser",
      "google-chrome",
      "google-chrome-stable",
    ]
  ) {
    const found = await which(name);
    if (found !== undefined) return found;
  }
  return undefined;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A DevTools protocol connection: commands with deadlines, and events. */
class DevTools {
  readonly #socket: WebSocket;
  readonly #pending = new Map<
    number,
    { resolve: (value: Json) => void; reject: (error: Error) => void }
  >();
  readonly #listeners: ((message: Json) => void)[] = [];
  #next = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string);
      if (message.id !== undefined) {
        const waiter = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) {
          waiter?.reject(new Error(JSON.stringify(message.error)));
        } else waiter?.resolve(message.result);
      } else {
        for (const listener of this.#listeners) listener(message);
      }
    };
    socket.onclose = () => {
      for (const { reject } of this.#pending.values()) {
        reject(new Error("the DevTools connection closed"));
      }
      this.#pending.clear();
    };
  }

  static connect(url: string): Promise<DevTools> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error(`no DevTools connection to ${url}`));
      }, 30_000);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(new DevTools(socket));
      };
      socket.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${url}`));
      };
    });
  }

  send(
    method: string,
    params: Json = {},
    sessionId?: string,
    deadlineMs = 30_000,
  ): Promise<Json> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer from Chromium in time`));
      }, deadlineMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  on(listener: (message: Json) => void): void {
    this.#listeners.push(listener);
  }

  /** The next event `method` of `sessionId`. */
  next(method: string, sessionId: string, deadlineMs = 60_000): Promise<Json> {
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`${method}: no event from Chromium in time`));
      }, deadlineMs);
      this.on((message) => {
        if (done || message.method !== method) return;
        if (message.sessionId !== sessionId) return;
        done = true;
        clearTimeout(timer);
        resolve(message.params);
      });
    });
  }

  close(): void {
    this.#socket.close();
  }
}

/** Waits, bounded, for Chromium to write the port it listens on. */
async function devToolsUrl(
  profile: string,
  exited: () => boolean,
): Promise<string> {
  for (let i = 0; i < 600 && !exited(); i++) {
    try {
      const [port, route] = (await Deno.readTextFile(
        `${profile}/DevToolsActivePort`,
      )).trim().split("\n");
      if (port && route) return `ws://127.0.0.1:${port}${route}`;
    } catch {
      // not yet written
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("Chromium did not open its DevTools port");
}

/** Stream what the page logs while the suite runs; wait for its totals. */
async function runPage(
  devtools: DevTools,
  url: string,
): Promise<{ passed: number; failed: number }> {
  const { targetId } = await devtools.send("Target.createTarget", {
    url: "about:blank",
  });
  const { sessionId } = await devtools.send("Target.attachToTarget", {
    targetId,
    flatten: true,
  });
  devtools.on((message) => {
    if (message.sessionId !== sessionId) return;
    if (message.method === "Runtime.consoleAPICalled") {
      say(
        message.params.args.map((arg: Json) => arg.value ?? arg.description)
          .join(" "),
      );
    } else if (message.method === "Runtime.exceptionThrown") {
      const details = message.params.exceptionDetails;
      console.log(
        `page exception: ${details.exception?.description ?? details.text}`,
      );
    } else if (
      message.method === "Log.entryAdded" &&
      message.params.entry.level === "error"
    ) {
      console.log(`page error: ${message.params.entry.text}`);
    }
  });
  for (const domain of ["Runtime", "Log", "Page"]) {
    await devtools.send(`${domain}.enable`, {}, sessionId);
  }
  const loaded = devtools.next("Page.loadEventFired", sessionId);
  await devtools.send("Page.navigate", { url }, sessionId);
  await loaded;
  const { result, exceptionDetails } = await devtools.send(
    "Runtime.evaluate",
    {
      expression: `new Promise((resolve, reject) => {
        let tries = 0;
        const poll = () => {
          if (globalThis.flashmapSuite) globalThis.flashmapSuite.then(resolve, reject);
          else if (++tries > 600) reject(new Error("the page never started the suite"));
          else setTimeout(poll, 50);
        };
        poll();
      })`,
      awaitPromise: true,
      returnByValue: true,
    },
    sessionId,
    RUN_DEADLINE_MS,
  );
  await devtools.send("Target.closeTarget", { targetId });
  if (exceptionDetails !== undefined) {
    throw new Error(
      exceptionDetails.exception?.description ?? exceptionDetails.text,
    );
  }
  return { passed: result.value.passed, failed: result.value.failed };
}

async function runBrowser(builds: Builds): Promise<Outcome> {
  const outcome = newOutcome("browser");
  const chromium = await findChromium();
  if (chromium === undefined) {
    outcome.skipped = "no Chromium (install it: `apt-get install chromium` " +
      "on Debian, or set CHROME_PATH to a Chrome or Chromium binary)";
    return outcome;
  }
  const server = serve(builds.web);
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const profile = await Deno.makeTempDir({ prefix: "flashmap-chromium-" });
  const child = new Deno.Command(chromium, {
    args: [
      "--headless",
      "--no-sandbox", // as root, and in containers without user namespaces
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  let log = "";
  const drained = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) log = (log + chunk).slice(-20_000);
  })();
  let devtools: DevTools | undefined;
  try {
    devtools = await DevTools.connect(
      await devToolsUrl(profile, () => exited),
    );
    const version = await devtools.send("Browser.getVersion");
    console.log(`${version.product} at ${origin}`);
    for (const page of ["/", "/plain/"]) {
      const { passed, failed } = await runPage(devtools, origin + page);
      outcome.passed += passed;
      outcome.failed += failed;
    }
  } catch (error) {
    outcome.failed++;
    outcome.problems.push(
      `${error instanceof Error ? error.message : error}\nChromium's log:\n${
        log.split("\n").slice(-30).join("\n")
      }`,
    );
  } finally {
    await devtools?.send("Browser.close").catch(() => {});
    devtools?.close();
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await status;
    clearTimeout(timer);
    await drained.catch(() => {});
    await server.shutdown();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
  return outcome;
}

// --- Main -------------------------------------------------------------------

const RUNTIMES = ["deno", "node", "bun", "browser"] as const;
type Runtime = typeof RUNTIMES[number];

async function main(args: string[]): Promise<number> {
  const cache = cacheDir();
  quiet = args.includes("--quiet");
  args = args.filter((arg) => arg !== "--quiet");
  const named = args.length === 0 ? ["all"] : args;
  if (named[0] === "fetch") {
    const got = [await getBun(cache), await getNewerNode(cache)];
    for (const bin of got) {
      console.log(typeof bin === "string" ? bin : `fetch failed: ${bin.why}`);
    }
    return got.every((bin) => typeof bin === "string") ? 0 : 1;
  }
  if (named[0] === "serve") {
    const builds = await build(cache);
    const server = serve(builds.web, Number(named[1] ?? 8000));
    console.log(
      `serving the suite with COOP/COEP at http://127.0.0.1:${server.addr.port}/` +
        ` (without them: /plain/); stop with Ctrl-C`,
    );
    Deno.addSignalListener("SIGINT", () => server.shutdown());
    await server.finished;
    await Deno.remove(builds.dir, { recursive: true });
    return 0;
  }
  const unknown = named.filter((name) =>
    name !== "all" && !RUNTIMES.includes(name as Runtime)
  );
  if (unknown.length > 0) {
    console.error(
      `unknown runtime ${unknown.join(", ")}: expected all, ${
        RUNTIMES.join(", ")
      }, fetch or serve`,
    );
    if (unknown.some((name) => /[./]/.test(name))) {
      console.error(
        "(`deno task test FILE` hands FILE to this runner; to test some " +
          "files only: deno test --allow-read=. FILE...)",
      );
    }
    return 2;
  }
  const chosen = named.includes("all")
    ? [...RUNTIMES]
    : RUNTIMES.filter((name) => named.includes(name));
  const required = new Set([
    ...named.filter((name) => name !== "all"),
    ...(env("FLASHMAP_REQUIRE") ?? "").split(",").map((name) => name.trim())
      .filter((name) => name !== ""),
  ]);

  const started = Date.now();
  let builds: Builds & { dir: string };
  try {
    builds = await build(cache);
  } catch (error) {
    console.log(error instanceof Error ? error.message : String(error));
    console.log("runtimes: 0 passed, 1 failed (the bundles could not be made)");
    return 1;
  }
  console.log(
    `runtime suite: library bundled by deno bundle (${
      Date.now() - started
    } ms) into ${builds.bundle}`,
  );
  const outcomes: Outcome[] = [];
  for (const name of chosen) {
    const start = Date.now();
    const outcome = name === "deno"
      ? await runDeno(builds)
      : name === "node"
      ? await runNode(builds, cache)
      : name === "bun"
      ? await runBun(builds, cache)
      : await runBrowser(builds);
    outcome.ms = Date.now() - start;
    outcomes.push(outcome);
  }

  let passed = 0;
  let failed = 0;
  let missing = 0;
  for (const outcome of outcomes) {
    passed += outcome.passed;
    failed += outcome.failed;
    for (const line of [...outcome.problems, ...outcome.notes]) {
      console.log(`${outcome.name}: ${line}`);
    }
    if (outcome.skipped !== undefined) {
      const must = required.has(outcome.name);
      if (must) missing++;
      console.log(
        `${outcome.name}: ${
          must ? "FAILED, required but " : ""
        }skipped: ${outcome.skipped}`,
      );
    } else {
      console.log(
        `${outcome.name}: ${outcome.passed} passed, ${outcome.failed} failed ` +
          `(${(outcome.ms / 1000).toFixed(1)} s)`,
      );
    }
  }
  if (failed > 0) {
    console.log(`runtime suite: the bundles are kept in ${builds.dir}`);
  } else {
    await Deno.remove(builds.dir, { recursive: true });
  }
  console.log(`runtimes: ${passed} passed, ${failed} failed`);
  return failed > 0 || missing > 0 ? 1 : 0;
}

Deno.exitCode = await main(Deno.args);
