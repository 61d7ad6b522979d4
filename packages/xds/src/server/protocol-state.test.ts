import { describe, expect, test } from "vitest";
import {
  type Available,
  deltaRequest,
  deltaResponse,
  forgetSent,
  sotwRequest,
  sotwResponse,
  type WatchState,
} from "./protocol-state.js";

const avail = (entries: Record<string, string>): Available =>
  new Map(Object.entries(entries).map(([n, v]) => [n, { version: v }]));

describe("SotW decisions (no sockets)", () => {
  test("a first CDS request without names is a (legacy) wildcard and gets everything", () => {
    const d = sotwRequest(undefined, { kind: "cds", names: [], nonce: "", hasError: false });
    expect(d).toMatchObject({ respond: true, force: true, ack: false, nack: false });
    expect(d.state.wildcard).toBe(true);
    const r = sotwResponse(d.state, avail({ a: "1", b: "1" }), d.force, "1");
    expect(r?.send).toEqual(["a", "b"]);
  });

  test("an ACK of the last nonce gets no response when nothing changed; a change re-sends the full set (LDS/CDS)", () => {
    let w = sotwResponse(
      sotwRequest(undefined, { kind: "lds", names: [], nonce: "", hasError: false }).state,
      avail({ a: "1", b: "1" }),
      true,
      "1",
    )?.state as WatchState;
    const ack = sotwRequest(w, { kind: "lds", names: [], nonce: "1", hasError: false });
    expect(ack).toMatchObject({ ack: true, respond: false, force: false }); // a plain ACK needs no response
    w = ack.state;
    expect(sotwResponse(w, avail({ a: "1", b: "1" }), false, "2")).toBeUndefined();
    // b changed: a full-state type sends a and b, not only b.
    expect(sotwResponse(w, avail({ a: "1", b: "2" }), false, "2")?.send).toEqual(["a", "b"]);
  });

  test("EDS is partial: only what changed goes", () => {
    const first = sotwRequest(undefined, { kind: "eds", names: ["a", "b"], nonce: "", hasError: false });
    const w = sotwResponse(first.state, avail({ a: "1", b: "1" }), true, "1")?.state as WatchState;
    expect(sotwResponse(w, avail({ a: "1", b: "2" }), false, "2")?.send).toEqual(["b"]);
  });

  test("a stale nonce is ignored; a NACK is recorded and not answered", () => {
    const first = sotwRequest(undefined, { kind: "cds", names: ["a"], nonce: "", hasError: false });
    const w = sotwResponse(first.state, avail({ a: "1" }), true, "5")?.state as WatchState;
    expect(sotwRequest(w, { kind: "cds", names: ["a"], nonce: "4", hasError: false })).toMatchObject({
      stale: true,
      respond: false,
    });
    const nack = sotwRequest(w, { kind: "cds", names: ["a"], nonce: "5", hasError: true });
    expect(nack).toMatchObject({ nack: true, respond: false });
    // The rejected content stays recorded as sent: the same version is never resent.
    expect(sotwResponse(nack.state, avail({ a: "1" }), false, "6")).toBeUndefined();
  });

  test("a newly requested name is sent even if unchanged", () => {
    const first = sotwRequest(undefined, { kind: "eds", names: ["a"], nonce: "", hasError: false });
    const w = sotwResponse(first.state, avail({ a: "1", b: "1" }), true, "1")?.state as WatchState;
    const more = sotwRequest(w, { kind: "eds", names: ["a", "b"], nonce: "1", hasError: false });
    expect(sotwResponse(more.state, avail({ a: "1", b: "1" }), more.force, "2")?.send).toEqual(["b"]);
  });
});

describe("Delta decisions (no sockets)", () => {
  test("subscribe, ACK, change, removal", () => {
    const d = deltaRequest(
      undefined,
      {
        kind: "eds",
        subscribe: ["a", "gone"],
        unsubscribe: [],
        nonce: "",
        hasError: false,
        initialVersions: {},
      },
      new Set(["a"]),
    );
    const r1 = deltaResponse(d.state, avail({ a: "1" }), d.force, "1");
    expect(r1).toMatchObject({ send: ["a"], removed: ["gone"] });
    const ack = deltaRequest(
      r1?.state,
      { kind: "eds", subscribe: [], unsubscribe: [], nonce: "1", hasError: false, initialVersions: {} },
      new Set(["a"]),
    );
    expect(ack.ack).toBe(true);
    expect(deltaResponse(ack.state, avail({ a: "1" }), false, "2")).toBeUndefined();
    expect(deltaResponse(ack.state, avail({ a: "2" }), false, "2")).toMatchObject({
      send: ["a"],
      removed: [],
    });
    expect(deltaResponse(ack.state, avail({}), false, "2")).toMatchObject({ send: [], removed: ["a"] });
  });

  test("initial_resource_versions: only what differs is sent on reconnect", () => {
    const d = deltaRequest(
      undefined,
      {
        kind: "cds",
        subscribe: [],
        unsubscribe: [],
        nonce: "",
        hasError: false,
        initialVersions: { a: "1", b: "1" },
      },
      new Set(["a", "b"]),
    );
    expect(d.state.wildcard).toBe(true);
    expect(deltaResponse(d.state, avail({ a: "1", b: "2" }), false, "1")?.send).toEqual(["b"]);
  });

  test("forgetSent makes a re-sent cluster's CLA go again", () => {
    const first = sotwRequest(undefined, { kind: "eds", names: ["a"], nonce: "", hasError: false });
    const w = sotwResponse(first.state, avail({ a: "1" }), true, "1")?.state as WatchState;
    expect(sotwResponse(w, avail({ a: "1" }), false, "2")).toBeUndefined();
    expect(sotwResponse(forgetSent(w, ["a"]), avail({ a: "1" }), false, "2")?.send).toEqual(["a"]);
  });
});
