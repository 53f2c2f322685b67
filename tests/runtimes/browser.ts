/**
 * Runs the runtime suite (`suite.ts`) in a browser, bundled by `run.ts` and
 * served with COOP/COEP. This one module has three roles:
 *
 * - on a cross-origin isolated page: the suite on the page's main thread
 *   (which may not block), with Web Workers as readers; then the suite again
 *   inside a dedicated worker (which may block), with nested Web Workers;
 * - in that dedicated worker: the suite, lines and totals posted back;
 * - on a page without COOP/COEP: one check, that `create()` throws a
 *   `TypeError` naming both headers.
 *
 * The page writes every line into the DOM and resolves
 * `globalThis.flashmapSuite` with `{ passed, failed, lines }`, which
 * `run.ts` reads through the DevTools protocol.
 *
 * @module
 */

import { create } from "@x/flashmap";
import {
  type Host,
  runSuite,
  type Summary,
  type WebWorkerClass,
  webWorkerPort,
} from "./suite.ts";

interface Outcome {
  passed: number;
  failed: number;
  lines: string[];
}

const scope = globalThis as unknown as {
  Worker: WebWorkerClass;
  document?: {
    getElementById(id: string): { textContent: string | null } | null;
    title: string;
  };
  navigator: { userAgent: string };
  crossOriginIsolated?: boolean;
  postMessage(message: unknown): void;
  flashmapSuite?: Promise<Outcome>;
};

const browser = (() => {
  const match = scope.navigator.userAgent.match(
    /(HeadlessChrome|Chrome|Firefox|Version)\/([\d.]+)/,
  );
  if (match === null) return "browser";
  const name = match[1] === "Firefox"
    ? "firefox"
    : match[1] === "Version"
    ? "safari"
    : "chromium";
  // Chromium reports its major version only ("156.0.0.0").
  return `${name} ${match[2].replace(/(\.0)+$/, "")}`;
})();

function webHost(label: string, canBlock: boolean): Host {
  const url = new URL("./worker_web.js", import.meta.url);
  return {
    label,
    canBlock,
    startWorker: () => webWorkerPort(scope.Worker, url),
  };
}

/** The suite in a dedicated worker that runs this module. */
function inWorker(print: (line: string) => void): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const worker = new scope.Worker(new URL(import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event) => {
      const data = event.data as { line?: string; summary?: Summary };
      if (data.line !== undefined) print(data.line);
      if (data.summary !== undefined) {
        worker.terminate();
        resolve(data.summary);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`the suite's worker failed: ${event.message}`));
    };
  });
}

/** Without cross-origin isolation, `create()` must say which headers to send. */
function withoutIsolation(): Outcome {
  const name = `${browser}, page without COOP/COEP: create() names the headers`;
  try {
    create();
    return { passed: 0, failed: 1, lines: [`FAIL ${name}\n     no error`] };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const good = error instanceof TypeError &&
      message.includes("Cross-Origin-Opener-Policy: same-origin") &&
      message.includes("Cross-Origin-Embedder-Policy: require-corp");
    return good
      ? { passed: 1, failed: 0, lines: [`ok   ${name}`] }
      : { passed: 0, failed: 1, lines: [`FAIL ${name}\n     ${message}`] };
  }
}

async function onPage(
  document: NonNullable<typeof scope.document>,
): Promise<Outcome> {
  const log = document.getElementById("log");
  const lines: string[] = [];
  const print = (line: string) => {
    lines.push(line);
    console.log(line);
    if (log !== null) log.textContent = lines.join("\n");
  };
  let passed = 0;
  let failed = 0;
  if (scope.crossOriginIsolated !== true) {
    const outcome = withoutIsolation();
    for (const line of outcome.lines) print(line);
    passed += outcome.passed;
    failed += outcome.failed;
  } else {
    const runs: (() => Promise<Summary>)[] = [
      () => runSuite(webHost(`${browser}, page, Web Workers`, false), print),
      () => inWorker(print),
    ];
    for (const run of runs) {
      try {
        const summary = await run();
        passed += summary.passed;
        failed += summary.failed;
      } catch (error) {
        print(`FAIL ${browser}: ${error}`);
        failed++;
      }
    }
  }
  const where = scope.crossOriginIsolated === true
    ? browser
    : `${browser}, page without COOP/COEP`;
  const total = `${where}: ${passed} passed, ${failed} failed`;
  print(total);
  document.title = total;
  return { passed, failed, lines };
}

if (scope.document !== undefined) {
  scope.flashmapSuite = onPage(scope.document);
} else {
  // The dedicated worker the page started.
  const summary = await runSuite(
    webHost(`${browser}, dedicated worker, nested Web Workers`, true),
    (line) => scope.postMessage({ line }),
  );
  scope.postMessage({ summary });
}
