import { describe, expect, test } from "vitest";
import { ALL_NAMESPACES, XdsCache } from "./xds-cache.js";

describe("XdsCache", () => {
  test("a change clears exactly the entries that depend on it", () => {
    const cache = new XdsCache();
    let builds = 0;
    const get = (type: string, key: string, deps: string[]) =>
      cache.memo(type, key, deps, () => {
        builds++;
        return `${key}@${builds}`;
      });
    get("eds", "a", ["eps:a", "svc:a"]);
    get("eds", "b", ["eps:b", "svc:b"]);
    get("cds", "a", ["svc:a"]);
    expect(builds).toBe(3);
    get("eds", "a", ["eps:a", "svc:a"]);
    expect(builds).toBe(3); // hit
    expect(cache.clear(["eps:a"])).toBe(1);
    get("cds", "a", ["svc:a"]);
    get("eds", "b", ["eps:b", "svc:b"]);
    expect(builds).toBe(3); // untouched entries survive
    get("eds", "a", ["eps:a", "svc:a"]);
    expect(builds).toBe(4);
    expect(cache.stats()).toMatchObject({
      hits: { eds: 2, cds: 1 },
      misses: { eds: 3, cds: 1 },
      invalidations: 1,
    });
  });

  test("evict removes what depends on its keys, counted as evictions", () => {
    const cache = new XdsCache();
    cache.memo("inbound", "10.0.0.7", ["addr:10.0.0.7", "sidecar:a"], () => 1);
    cache.memo("inbound", "10.0.0.8", ["addr:10.0.0.8", "sidecar:a"], () => 2);
    expect(cache.evict(["addr:10.0.0.7"])).toBe(1);
    expect(cache.size()).toBe(1);
    expect(cache.stats()).toMatchObject({ invalidations: 0, evictions: 1 });
  });

  test("entries that see every namespace are cleared by any namespace change; deps may come from the value", () => {
    const cache = new XdsCache();
    cache.memo(
      "view",
      "all",
      (v: { deps: string[] }) => v.deps,
      () => ({ deps: [ALL_NAMESPACES] }),
    );
    cache.memo(
      "view",
      "own",
      (v: { deps: string[] }) => v.deps,
      () => ({ deps: ["ns:a"] }),
    );
    expect(cache.clear(["ns:b"])).toBe(1);
    expect(cache.size()).toBe(1);
    expect(cache.clear(["*"])).toBe(1);
    expect(cache.size()).toBe(0);
  });

  test("disabled: every lookup builds; bounded: the least recently used go first", () => {
    const off = new XdsCache({ enabled: false });
    let n = 0;
    off.memo("eds", "a", [], () => n++);
    off.memo("eds", "a", [], () => n++);
    expect(n).toBe(2);
    const small = new XdsCache({ maxEntriesPerType: 2 });
    small.memo("eds", "a", ["x"], () => 1);
    small.memo("eds", "b", ["x"], () => 2);
    small.memo("eds", "a", ["x"], () => 1); // a is now the most recent
    small.memo("eds", "c", ["x"], () => 3);
    expect(small.stats().evictions).toBe(1);
    let rebuilt = false;
    small.memo("eds", "a", ["x"], () => {
      rebuilt = true;
      return 1;
    });
    expect(rebuilt).toBe(false);
  });
});
