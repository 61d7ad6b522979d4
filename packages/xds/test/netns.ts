/**
 * A network namespace for tests that need a "pod": its own ports (an Envoy sidecar's 15001/15006
 * never collide with another test's), its own iptables (capture rules touch nothing on the host),
 * and a veth to the host: the namespace is 10.<octet>.<index>.2, the host side .1. Needs root.
 */
import { runCommand, type SpawnedProgram, spawnProgram } from "@meshctl/core";

export interface TestNetns {
  /** `mcx-<tag>`. */
  readonly name: string;
  /** The namespace's address (`10.<octet>.<index>.2`). */
  readonly ip: string;
  /** The host's end of the veth (`.1`): where the namespace reaches servers the test runs. */
  readonly hostIp: string;
  /** Runs a command inside the namespace to completion (throws on failure). */
  run(command: string, args: readonly string[]): Promise<string>;
  /** Starts a long-running program inside the namespace (the caller kills it). */
  spawn(command: string, args: readonly string[], options?: { cwd?: string }): SpawnedProgram;
  /** Deletes the namespace and the veth (idempotent). */
  close(): Promise<void>;
}

/**
 * Creates `mcx-<tag>`, replacing leftovers of a crashed run with the same tag.
 *
 * @example
 * const ns = await createTestNetns({ tag: `al${process.pid % 10_000}`, octet: 214, index: 1 });
 * await ns.run("iptables", ["-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080", "-j", "REDIRECT", "--to-ports", "15006"]);
 * await ns.close();
 */
export async function createTestNetns(opts: {
  tag: string;
  octet: number;
  index: number;
}): Promise<TestNetns> {
  const name = `mcx-${opts.tag}`;
  const hostIf = `mcx${opts.tag}`.slice(0, 15);
  const subnet = `10.${opts.octet}.${opts.index}`;
  const ip = `${subnet}.2`;
  const close = async () => {
    await runCommand("ip", ["netns", "delete", name], { reject: false, timeoutMs: 10_000 });
    await runCommand("ip", ["link", "delete", hostIf], { reject: false, timeoutMs: 10_000 });
  };
  try {
    await close();
    await runCommand("ip", ["netns", "add", name], { timeoutMs: 10_000 });
    await runCommand("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", name], {
      timeoutMs: 10_000,
    });
    await runCommand("ip", ["addr", "add", `${subnet}.1/30`, "dev", hostIf], { timeoutMs: 10_000 });
    await runCommand("ip", ["link", "set", hostIf, "up"], { timeoutMs: 10_000 });
    await runCommand("ip", ["-n", name, "addr", "add", `${ip}/30`, "dev", "eth0"], { timeoutMs: 10_000 });
    await runCommand("ip", ["-n", name, "link", "set", "eth0", "up"], { timeoutMs: 10_000 });
    await runCommand("ip", ["-n", name, "link", "set", "lo", "up"], { timeoutMs: 10_000 });
  } catch (error) {
    await close();
    throw error;
  }
  return {
    name,
    ip,
    hostIp: `${subnet}.1`,
    async run(command, args) {
      return (await runCommand("ip", ["netns", "exec", name, command, ...args], { timeoutMs: 10_000 }))
        .stdout;
    },
    spawn: (command, args, options = {}) =>
      spawnProgram("ip", ["netns", "exec", name, command, ...args], options),
    close,
  };
}
