/**
 * Every `meshctl` command line in the docs names a command that exists and only flags that
 * command has. Nothing is run: the command lines are read from docs/*.md, README.md and the
 * packages' READMEs (shell
 * code blocks and inline code) and compared with the oclif command classes' `flags`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { CLI_ROOT } from "../test/helpers.js";
import { MeshctlCommand } from "./base-command.js";
import { COMMANDS } from "./commands/index.js";

const REPO = join(CLI_ROOT, "..", "..");
const DOCS = [
  "README.md",
  ...readdirSync(join(REPO, "packages"))
    .map((p) => `packages/${p}/README.md`)
    .filter((f) => existsSync(join(REPO, f))),
  ...readdirSync(join(REPO, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/**
 * Mismatches in docs this package does not own, reported to their owners (issue 17). Each must
 * still be found: when a doc is fixed, the test fails until its entry is removed here.
 */
const KNOWN_MISMATCHES: readonly string[] = [];

interface FlagDef {
  readonly char?: string;
  readonly allowNo?: boolean;
}

/** A command line found in a doc: where, the words after `meshctl`, and its text. */
interface DocCommand {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly words: readonly string[];
}

/** Shell words, quotes removed (enough for docs: no escapes inside quotes). */
function shellWords(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) words.push(m[1] ?? m[2] ?? m[3] ?? "");
  return words;
}

/** Splits a shell line into simple commands (pipes, &&, ||, ;) without comments. */
function simpleCommands(line: string): string[] {
  const withoutComment = line.replace(/(^|\s)#.*$/, "");
  return withoutComment.split(/\|\||&&|[|;]/);
}

/** The words after the meshctl invocation in `segment`, or null when it does not run meshctl. */
function meshctlWords(segment: string): string[] | null {
  const words = shellWords(segment);
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    if (w === "meshctl" || w === "<%= config.bin %>" || /(^|\/)packages\/cli\/bin\/run\.js$/.test(w)) {
      // `npm run meshctl -- <args>`: the arguments follow `--`.
      if (words[i - 1] === "run" && words[i - 2] === "npm")
        return words[i + 1] === "--" ? words.slice(i + 2) : [];
      if (words[i - 1] === "run" && words[i - 2] === "-s")
        return words[i + 1] === "--" ? words.slice(i + 2) : [];
      return words.slice(i + 1);
    }
  }
  return null;
}

/** Shell code blocks and inline code spans that run meshctl, with their line numbers. */
export function extractDocCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split("\n");
  let fence: string | null = null;
  let pending = "";
  let pendingLine = 0;
  const add = (text: string, line: number): void => {
    for (const segment of simpleCommands(text)) {
      const words = meshctlWords(segment);
      if (words) out.push({ file, line, text: segment.trim(), words });
    }
  };
  lines.forEach((raw, i) => {
    const fenceMark = /^\s*```\s*([\w-]*)/.exec(raw);
    if (fenceMark) {
      fence = fence === null ? (fenceMark[1] ?? "") : null;
      return;
    }
    if (fence !== null) {
      if (!["sh", "bash", "shell", "console", ""].includes(fence)) return;
      // Continuation lines ("\" at the end) are one command.
      if (pending === "") pendingLine = i + 1;
      if (/\\\s*$/.test(raw)) {
        pending += `${raw.replace(/\\\s*$/, "")} `;
        return;
      }
      add(pending + raw.replace(/^\s*\$\s+/, ""), pendingLine);
      pending = "";
      return;
    }
    for (const m of raw.matchAll(/`([^`]+)`/g)) {
      const code = m[1] as string;
      if (/^(sudo\s+)?meshctl\s/.test(code) || /^npm run (-s )?meshctl --/.test(code)) add(code, i + 1);
    }
  });
  return out;
}

type CommandClass = (typeof COMMANDS)[keyof typeof COMMANDS];
const IDS = Object.keys(COMMANDS);
const TOPICS = new Set(
  IDS.flatMap((id) =>
    id
      .split(":")
      .slice(0, -1)
      .map((_, i, a) => a.slice(0, i + 1).join(":")),
  ),
);

/** The flags a command accepts: its own, the base command's, --json and --help. */
function flagsOf(command: CommandClass): Map<string, FlagDef> {
  const all = new Map<string, FlagDef>();
  const declared = {
    ...MeshctlCommand.baseFlags,
    ...((command as { flags?: Record<string, FlagDef> }).flags ?? {}),
  } as Record<string, FlagDef>;
  for (const [name, def] of Object.entries(declared)) all.set(name, def);
  all.set("json", {});
  all.set("help", { char: "h" });
  return all;
}

/**
 * What is wrong with one documented command line (empty: nothing). Tables abbreviate with
 * slashes: `meshctl install/uninstall --namespace`, `--port/--debug-port`; each is checked.
 */
export function checkDocCommand(words: readonly string[]): string[] {
  const alternatives =
    words[0]?.includes("/") && /^[a-z-]+(\/[a-z-]+)+$/.test(words[0]) ? words[0].split("/") : null;
  if (alternatives) return alternatives.flatMap((w) => checkDocCommand([w, ...words.slice(1)]));
  // Optional parts in synopses: `[--context NAME]`.
  const unbracketed = words.map((w) => w.replace(/^\[(?=-)/, "").replace(/(?<=^-[\w-]*)\]$/, ""));
  const expanded = unbracketed.flatMap((w) => (/^--[\w-]+(\/--[\w-]+)+$/.test(w) ? w.split("/") : [w]));
  return checkOneDocCommand(expanded);
}

function checkOneDocCommand(words: readonly string[]): string[] {
  // The command id: the longest run of leading words that names a command.
  let id = "";
  let n = 0;
  for (let k = 0; k < words.length; k++) {
    const w = words[k] as string;
    if (w.startsWith("-")) break;
    const candidate = id ? `${id}:${w}` : w;
    if (IDS.includes(candidate) || TOPICS.has(candidate)) {
      id = candidate;
      n = k + 1;
    } else break;
  }
  const first = words[0];
  if (id === "") {
    // `meshctl`, `meshctl --help`, `meshctl --version`, or a placeholder such as `meshctl <command>`.
    if (first === undefined || first.startsWith("-") || !/^[a-z][a-z-]*$/.test(first)) {
      const bad = words.filter((w) => w.startsWith("--") && !["--help", "--version"].includes(w));
      return bad.map((w) => `meshctl has no global flag ${w}`);
    }
    return [`no command "meshctl ${first}"`];
  }
  const command = COMMANDS[id as keyof typeof COMMANDS] as CommandClass | undefined;
  if (!command) return []; // a topic alone (meshctl xds): oclif lists its commands
  const flags = flagsOf(command);
  const problems: string[] = [];
  for (const w of words.slice(n)) {
    if (/^[<>]|^\d?>/.test(w)) break; // redirection: what follows is not meshctl's
    if (w.startsWith("--")) {
      const name = w.slice(2).split("=")[0] as string;
      if (name === "") continue;
      const def = flags.get(name);
      const negated = name.startsWith("no-") ? flags.get(name.slice(3)) : undefined;
      if (!def && !negated?.allowNo)
        problems.push(`meshctl ${id.replaceAll(":", " ")} has no flag --${name}`);
    } else if (/^-[a-zA-Z]$/.test(w)) {
      const char = w.slice(1);
      if (![...flags.values()].some((f) => f.char === char))
        problems.push(`meshctl ${id.replaceAll(":", " ")} has no flag ${w}`);
    }
  }
  return problems;
}

describe("flags in the docs exist on their commands", () => {
  const found: string[] = [];
  let checked = 0;
  for (const file of DOCS) {
    const commands = extractDocCommands(file, readFileSync(join(REPO, file), "utf8"));
    checked += commands.length;
    for (const c of commands)
      for (const p of checkDocCommand(c.words)) found.push(`${c.file}:${c.line}: ${p}  (${c.text})`);
  }
  const key = (f: string) => f.replace(/:\d+:/, ":");

  test("every documented command and flag exists", () => {
    expect(checked, "command lines found in the docs").toBeGreaterThan(50);
    const unexpected = found.filter((f) => !KNOWN_MISMATCHES.includes(key(f)));
    expect(unexpected).toEqual([]);
  });

  test("the known mismatches (other owners' docs) are still there; remove fixed ones", () => {
    const keys = new Set(found.map(key));
    expect(KNOWN_MISMATCHES.filter((k) => !keys.has(k))).toEqual([]);
  });
});

describe("the extractor", () => {
  test("finds commands in shell blocks and inline code, and checks them", () => {
    const md = [
      "Run `meshctl diagnose --pid 42` or:",
      "```sh",
      "meshctl bench run http://x/ -c 4 \\",
      "  --bogus 1 --json > out.json && meshctl vpp config --check a.conf | jq .",
      "npm run meshctl -- status --json",
      "meshctl nonsense --x",
      "```",
      "```yaml",
      "meshctl: --not-a-command",
      "```",
    ].join("\n");
    const commands = extractDocCommands("t.md", md);
    expect(commands.map((c) => [c.line, c.words.join(" ")])).toEqual([
      [1, "diagnose --pid 42"],
      [3, "bench run http://x/ -c 4 --bogus 1 --json > out.json"],
      [3, "vpp config --check a.conf"],
      [5, "status --json"],
      [6, "nonsense --x"],
    ]);
    expect(commands.map((c) => checkDocCommand(c.words))).toEqual([
      ["meshctl diagnose has no flag --pid"],
      ["meshctl bench run has no flag --bogus"],
      [],
      [],
      ['no command "meshctl nonsense"'],
    ]);
  });

  test("--no-<flag> for allowNo flags, global flags, env-style placeholders", () => {
    expect(checkDocCommand(["xds", "load", "--no-scoping", "--no-color", "--verbose"])).toEqual([]);
    expect(checkDocCommand(["xds", "load", "--no-proxies"])).toEqual([
      "meshctl xds load has no flag --no-proxies",
    ]);
    expect(checkDocCommand(["<command>", "--help"])).toEqual([]);
    expect(checkDocCommand(["--help"])).toEqual([]);
  });

  test("slash abbreviations in tables: each command and flag is checked", () => {
    expect(checkDocCommand(["install/uninstall", "--kubeconfig"])).toEqual([]);
    expect(checkDocCommand(["xds", "serve", "--port/--nope"])).toEqual([
      "meshctl xds serve has no flag --nope",
    ]);
    expect(checkDocCommand(["xds", "serve", "[--nope", "X]", "[--verbose]"])).toEqual([
      "meshctl xds serve has no flag --nope",
    ]);
  });
});
