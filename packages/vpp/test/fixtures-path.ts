import { fileURLToPath } from "node:url";

/** Absolute path inside test/fixtures (copied from ../shared/fixtures/vpp; see test/fixtures/README.md). */
export function fixture(...parts: string[]): string {
  return fileURLToPath(new URL(`./fixtures/${parts.join("/")}`, import.meta.url));
}
