import { describe, expect, test } from "vitest";
import { captureChainNames, renderCaptureRules } from "./iptables.js";

describe("renderCaptureRules", () => {
  const text = renderCaptureRules({ proxyUid: 1337, proxyGid: 1338 });
  const lines = text.trim().split("\n");

  test("is one nat-table transaction that declares its own chains", () => {
    expect(lines[0]).toBe("*nat");
    expect(lines.at(-1)).toBe("COMMIT");
    for (const chain of Object.values(captureChainNames())) expect(lines).toContain(`:${chain} - [0:0]`);
  });

  test("hooks only PREROUTING and OUTPUT, and only TCP", () => {
    const builtins = lines.filter((l) => /^-A (PREROUTING|OUTPUT|INPUT|POSTROUTING|FORWARD) /.test(l));
    expect(builtins).toEqual(["-A PREROUTING -p tcp -j MCL_INBOUND", "-A OUTPUT -p tcp -j MCL_OUTPUT"]);
  });

  test("redirects outbound to 15001 and inbound to 15006", () => {
    expect(lines).toContain("-A MCL_REDIRECT -p tcp -j REDIRECT --to-ports 15001");
    expect(lines).toContain("-A MCL_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006");
  });

  test("exempts the proxy's own uid and gid before the catch-all redirect", () => {
    const uidReturn = lines.indexOf("-A MCL_OUTPUT -m owner --uid-owner 1337 -j RETURN");
    const gidReturn = lines.indexOf("-A MCL_OUTPUT -m owner --gid-owner 1338 -j RETURN");
    const catchAll = lines.indexOf("-A MCL_OUTPUT -j MCL_REDIRECT");
    expect(uidReturn).toBeGreaterThan(0);
    expect(gidReturn).toBeGreaterThan(0);
    expect(catchAll).toBeGreaterThan(Math.max(uidReturn, gidReturn));
    expect(lines).toContain("-A MCL_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN");
    expect(lines).toContain("-A MCL_OUTPUT -d 127.0.0.1/32 -j RETURN");
  });

  test("leaves excluded inbound ports alone, before the inbound redirect", () => {
    const custom = renderCaptureRules({
      proxyUid: 1,
      proxyGid: 1,
      inboundPort: 16006,
      outboundPort: 16001,
      excludeInboundPorts: [22],
      chainPrefix: "X",
    })
      .trim()
      .split("\n");
    expect(custom.indexOf("-A X_INBOUND -p tcp --dport 22 -j RETURN")).toBeLessThan(
      custom.indexOf("-A X_INBOUND -p tcp -j X_IN_REDIRECT"),
    );
    expect(custom).toContain("-A X_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006");
    expect(custom).toContain("-A X_REDIRECT -p tcp -j REDIRECT --to-ports 16001");
  });
});
