import { describe, expect, test } from "vitest";
import { defaultVppManifestDir } from "../src/k8s/manifest-dir.js";

describe("defaultVppManifestDir", () => {
  test.each([
    {
      name: "XDG_STATE_HOME wins",
      context: { env: { XDG_STATE_HOME: "/srv/state" }, uid: 1000, home: "/home/ada" },
      dir: "/srv/state/meshctl/vpp",
    },
    {
      name: "XDG_STATE_HOME wins for root too",
      context: { env: { XDG_STATE_HOME: "/root/.state" }, uid: 0, home: "/root" },
      dir: "/root/.state/meshctl/vpp",
    },
    {
      name: "root: the system state directory",
      context: { env: {}, uid: 0, home: "/root" },
      dir: "/var/lib/meshctl/vpp",
    },
    {
      name: "a user: ~/.local/state",
      context: { env: {}, uid: 1000, home: "/home/ada" },
      dir: "/home/ada/.local/state/meshctl/vpp",
    },
    {
      name: "a relative XDG_STATE_HOME is ignored (it would land in the cwd)",
      context: { env: { XDG_STATE_HOME: "state" }, uid: 1000, home: "/home/ada" },
      dir: "/home/ada/.local/state/meshctl/vpp",
    },
    {
      name: "an empty XDG_STATE_HOME is ignored",
      context: { env: { XDG_STATE_HOME: "" }, uid: 0, home: "/root" },
      dir: "/var/lib/meshctl/vpp",
    },
  ])("$name", ({ context, dir }) => {
    expect(defaultVppManifestDir(context)).toBe(dir);
  });

  test("no absolute home and no XDG_STATE_HOME: a usage error naming --out, not the cwd", () => {
    expect(() => defaultVppManifestDir({ env: {}, uid: 1000, home: "" })).toThrow(
      expect.objectContaining({
        code: "VPP_STATE_DIR_UNKNOWN",
        kind: "usage",
        suggestions: [expect.stringContaining("--out DIR")],
      }),
    );
    expect(() => defaultVppManifestDir({ env: {}, uid: 1000, home: "." })).toThrow(/no absolute home/);
  });
});
