import { open } from "node:fs/promises";

/**
 * Reads what a growing file (a sidecar's access log) gained since the last read. A file that does
 * not exist yet reads as empty. Only whole lines are returned; a torn last line waits for the next
 * read.
 *
 * @example
 * const tail = new LogTail("/tmp/mcl-lab-1a2b/logs/sidecar-client.log");
 * await tail.skipToEnd();
 * // ... traffic ...
 * const lines = await tail.read();
 */
export class LogTail {
  private offset = 0;
  private partial = "";

  constructor(readonly path: string) {}

  /** Forgets everything written so far (earlier measurements, warm-up of this one is kept). */
  async skipToEnd(): Promise<void> {
    this.partial = "";
    try {
      const handle = await open(this.path, "r");
      try {
        this.offset = (await handle.stat()).size;
      } finally {
        await handle.close();
      }
    } catch {
      this.offset = 0;
    }
  }

  /** Whole lines appended since the last read. */
  async read(): Promise<string> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.path, "r");
    } catch {
      return "";
    }
    try {
      const size = (await handle.stat()).size;
      if (size <= this.offset) return "";
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buffer.subarray(0, bytesRead).toString("utf8");
      const end = text.lastIndexOf("\n");
      this.partial = text.slice(end + 1);
      return text.slice(0, end + 1);
    } finally {
      await handle.close();
    }
  }
}
