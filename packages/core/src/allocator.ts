/**
 * glibc malloc settings for meshctl's long-running servers (`xds serve`), set in the
 * environment of the process that runs them: glibc reads them once, at start.
 *
 * Why (decision record 0068): every socket read in Node allocates a 64 KiB buffer with
 * malloc, shrinks it to the bytes read, and frees it when V8 collects the ArrayBuffer. Under
 * glibc's default (a dynamic mmap threshold that rises to 32 MiB) those buffers come from the
 * main arena, and the shrunk, long-lived remainders pin its pages: a control plane with 2,000
 * streams gained ~40 MiB/h of RSS outside the V8 heap. A fixed threshold of 64 KiB sends each
 * read buffer to its own mapping, which is returned to the kernel when freed.
 */

/** The variables and values meshctl sets. */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: "65536",
});

/**
 * The variables to add to `env` so a child process gets meshctl's malloc settings: none when
 * `env` already has them, or when the operator set glibc's malloc tunables another way (their
 * choice wins).
 *
 * @example
 * allocatorEnv({}); // { MALLOC_MMAP_THRESHOLD_: "65536" }
 * allocatorEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }); // {}
 */
export function allocatorEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  if (env.GLIBC_TUNABLES?.includes("glibc.malloc.")) return {};
  const missing: Record<string, string> = {};
  for (const [name, value] of Object.entries(ALLOCATOR_ENV))
    if (env[name] === undefined) missing[name] = value;
  return missing;
}
