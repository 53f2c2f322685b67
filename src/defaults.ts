/**
 * The defaults of the map's limits, in a module of their own with no
 * imports, so that `@x/flashmap/parallel` can compare options with them
 * wherever it is bundled apart from the library.
 *
 * @module
 */

/** Default read handles that may be open at once. */
export const DEFAULT_MAX_READERS = 256;
/** Default number of index copies the buffer may hold at once. */
export const DEFAULT_MAX_COPIES = 8;
/** Default size limit of a map's buffer. */
export const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;
