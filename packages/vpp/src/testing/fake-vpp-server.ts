import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_HEADER_SIZE } from "../client/api-codec.js";

/** One step of a recorded conversation. */
export type ReplayStep =
  | { readonly dir: "s2c"; readonly bytes: Buffer }
  | { readonly dir: "c2s"; readonly bytes: Buffer }
  | { readonly dir: "s2c-eof" };

export interface FakeVppServerOptions {
  /**
   * The conversation to replay: one script for every connection, or one per connection in
   * order (the last one repeats), e.g. for a client that opens a connection per command.
   */
  readonly script: readonly ReplayStep[] | readonly (readonly ReplayStep[])[];
  /**
   * `cli`: client bytes must equal the recording. `api`: client bytes are read frame by frame and
   * compared with the context field masked; the context is copied into the replayed replies
   * (what a real VPP does), so a client need not pick the recorded context numbers.
   */
  readonly mode: "cli" | "api";
  /** In `api` mode, accept any client name in sockclnt_create (it is cosmetic). Default false. */
  readonly ignoreClientName?: boolean;
  /** Socket path; default a fresh `mcv-*` directory under the OS temp dir. */
  readonly socketPath?: string;
}

export interface FakeVppServer {
  readonly socketPath: string;
  /** Mismatches between what a client sent and the recording; empty when the client behaved like the recorded one. */
  readonly mismatches: string[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Resolves when every accepted connection has finished its script (or closed). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a unix-socket server that replays VPP's recorded bytes, for testing clients against
 * real VPP output without a VPP.
 *
 * @example
 * const server = await startFakeVppServer({ mode: "cli", script: await loadCliRecording("show_version.json") });
 * const out = await new VppCliClient({ socketPath: server.socketPath }).run("show version");
 * await server.close();
 */
export async function startFakeVppServer(options: FakeVppServerOptions): Promise<FakeVppServer> {
  let dir: string | undefined;
  let socketPath = options.socketPath;
  if (!socketPath) {
    dir = await mkdtemp(join(tmpdir(), "mcv-"));
    socketPath = join(dir, options.mode === "cli" ? "cli.sock" : "api.sock");
  }
  const mismatches: string[] = [];
  const running = new Set<Promise<void>>();
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const scripts = (
      Array.isArray(options.script[0]) ? options.script : [options.script]
    ) as readonly (readonly ReplayStep[])[];
    const script = scripts[Math.min(connections - 1, scripts.length - 1)] ?? [];
    const done = replay(socket, script, options.mode, mismatches, options.ignoreClientName === true).finally(
      () => running.delete(done),
    );
    running.add(done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  const path = socketPath;
  return {
    socketPath: path,
    mismatches,
    get connections() {
      return connections;
    },
    idle: async () => {
      while (running.size) await Promise.all([...running]);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Offset of the u32 context in a payload, by message id (handshake messages differ). */
function contextOffset(payload: Buffer, direction: "c2s" | "s2c"): number | undefined {
  if (payload.length < 10) return undefined;
  const id = payload.readUInt16BE(0);
  if (direction === "c2s") return id === 15 ? 2 : 6;
  return id === 16 ? 6 : 2;
}

async function replay(
  socket: net.Socket,
  script: readonly ReplayStep[],
  mode: "cli" | "api",
  mismatches: string[],
  ignoreClientName: boolean,
): Promise<void> {
  let received = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    wake?.();
  });
  socket.on("close", () => {
    closed = true;
    wake?.();
  });
  socket.on("error", () => {
    closed = true;
    wake?.();
  });
  const waitFor = async (n: number): Promise<boolean> => {
    while (received.length < n && !closed) await new Promise<void>((r) => (wake = r));
    return received.length >= n;
  };
  let cursor = 0;
  let lastContext: number | undefined;
  for (const [index, step] of script.entries()) {
    if (step.dir === "s2c-eof") {
      socket.end();
      return;
    }
    if (step.dir === "s2c") {
      let bytes = step.bytes;
      if (mode === "api" && lastContext !== undefined) {
        const payload = Buffer.from(bytes.subarray(API_HEADER_SIZE));
        const at = contextOffset(payload, "s2c");
        if (at !== undefined) payload.writeUInt32BE(lastContext, at);
        bytes = Buffer.concat([bytes.subarray(0, API_HEADER_SIZE), payload]);
      }
      if (closed) return;
      socket.write(bytes);
      // Let each recorded read arrive as its own chunk most of the time, as it did from VPP.
      await new Promise((r) => setImmediate(r));
      continue;
    }
    if (!(await waitFor(cursor + step.bytes.length))) {
      mismatches.push(
        `step ${index}: client closed after ${received.length - cursor} of ${step.bytes.length} expected bytes`,
      );
      return;
    }
    const got = Buffer.from(received.subarray(cursor, cursor + step.bytes.length));
    const want = Buffer.from(step.bytes);
    if (mode === "api") {
      const at = contextOffset(got.subarray(API_HEADER_SIZE), "c2s");
      if (at !== undefined && got.length >= API_HEADER_SIZE + at + 4) {
        lastContext = got.readUInt32BE(API_HEADER_SIZE + at);
        got.writeUInt32BE(0, API_HEADER_SIZE + at);
        want.writeUInt32BE(0, API_HEADER_SIZE + at);
        // sockclnt_create: u16 id, u32 context, string name[64]
        if (ignoreClientName && got.readUInt16BE(API_HEADER_SIZE) === 15) {
          got.fill(0, API_HEADER_SIZE + 6, API_HEADER_SIZE + 70);
          want.fill(0, API_HEADER_SIZE + 6, API_HEADER_SIZE + 70);
        }
      }
    }
    if (!got.equals(want)) {
      mismatches.push(
        `step ${index}: client sent ${got.toString("hex")}, recording has ${want.toString("hex")}`,
      );
      socket.destroy();
      return;
    }
    cursor += step.bytes.length;
  }
}

interface CliRecording {
  readonly exchanges: readonly { dir: "s2c" | "c2s"; hex?: string; eof?: boolean }[];
}

/**
 * Loads a CLI-socket transcript (`cli/<name>.json` of the VPP fixtures) as a replay script.
 *
 * @example
 * const script = await loadCliRecording("test/fixtures/cli/show_version.json");
 */
export async function loadCliRecording(file: string): Promise<ReplayStep[]> {
  const rec = JSON.parse(await readFile(file, "utf8")) as CliRecording;
  return rec.exchanges.map(
    (e): ReplayStep => (e.eof ? { dir: "s2c-eof" } : { dir: e.dir, bytes: Buffer.from(e.hex ?? "", "hex") }),
  );
}

/**
 * Loads a directory of recorded API frames (`NN_c2s_name.bin`, `NN_s2c_name.bin`) as a replay
 * script; VPP closes the connection after sockclnt_delete_reply, so an EOF is appended then.
 *
 * @example
 * const script = await loadApiFrames("test/fixtures/api/frames_basic");
 */
export async function loadApiFrames(dir: string): Promise<ReplayStep[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".bin")).sort();
  const steps: ReplayStep[] = [];
  for (const name of names) {
    const bytes = await readFile(join(dir, name));
    steps.push({ dir: name.includes("_c2s_") ? "c2s" : "s2c", bytes });
    if (name.includes("sockclnt_delete_reply")) steps.push({ dir: "s2c-eof" });
  }
  return steps;
}
