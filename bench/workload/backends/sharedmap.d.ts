// The shape of npm:sharedmap@1.2.0 as it runs: its own index.d.ts declares a
// named export (the module's default export is the class) and does not parse
// under TypeScript 6, so the harness declares what it uses.

/** A lock-based string-to-string hash map in a SharedArrayBuffer. */
export default class SharedMap {
  constructor(maxSize: number, keySize: number, objSize: number);
  readonly storage: SharedArrayBuffer;
  readonly length: number;
  set(key: string, value: string | number): void;
  get(key: string): string | undefined;
  has(key: string): boolean;
  delete(key: string): void;
}
