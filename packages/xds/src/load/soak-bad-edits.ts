/**
 * The bad edits of the soak (issue 17's table, as an unlucky operator or an attacker makes
 * them): each one is planned against a "victim" service that churn never touches, so whatever
 * the edit does, that service's clusters and endpoints must keep serving byte for byte. An edit
 * is a list of timed file steps, and a revert that puts the directory back as it was.
 */
import { seededRandom } from "./churn.js";
import { renderServiceFile, SERVICE_PORT, type SyntheticService } from "./synthetic-mesh.js";

export const BAD_EDIT_KINDS = [
  "yaml-syntax",
  "binary-garbage",
  "oversize-file",
  "duplicate-service",
  "unknown-fields",
  "missing-route-host",
  "empty-documents",
  "delete-restore",
  "deep-nesting",
  "alias-bomb",
] as const;
export type BadEditKind = (typeof BAD_EDIT_KINDS)[number];

/** One file operation, relative to the mesh directory. */
export type BadEditFileOp =
  | { readonly op: "write"; readonly file: string; readonly data: string | Uint8Array }
  | { readonly op: "delete"; readonly file: string };

export interface BadEditStep {
  /** Delay after the edit started, ms. */
  readonly atMs: number;
  readonly ops: readonly BadEditFileOp[];
}

export interface BadEdit {
  readonly seq: number;
  readonly kind: BadEditKind;
  /** The service whose served config the edit must not change. */
  readonly victim: SyntheticService;
  /** What the edit does, in order (delete-restore: delete, then restore 50 ms later). */
  readonly steps: readonly BadEditStep[];
  /** What undoes it (empty when the steps already did). */
  readonly revert: readonly BadEditFileOp[];
}

export interface BadEditPlannerOptions {
  /** Round robin over these, default all of BAD_EDIT_KINDS. */
  readonly kinds?: readonly BadEditKind[];
  /** Size of the oversize file, bytes; default 6 MiB (the directory source's limit is 4 MiB). */
  readonly oversizeBytes?: number;
  readonly seed?: number;
}

/** The delay of delete-restore's restore: inside the 100 ms in which a careful server must not push a deletion. */
export const DELETE_RESTORE_MS = 50;

/** A file path of the soak's own new files: sorted after the service files of the namespace. */
function soakFile(victim: SyntheticService, seq: number, what: string): string {
  return `${victim.namespace}/zz-soak-${String(seq).padStart(6, "0")}-${what}.yaml`;
}

function meta(name: string, namespace: string): string {
  return `metadata:\n  name: ${name}\n  namespace: ${namespace}\n`;
}

/** A ConfigMap of about `bytes` bytes: a kind meshctl does not read, as big as asked. */
export function renderOversizeConfigMap(name: string, namespace: string, bytes: number): string {
  const head = `apiVersion: v1\nkind: ConfigMap\n${meta(name, namespace)}data:\n`;
  const value = "x".repeat(100);
  const lineBytes = `  k0000000: "${value}"\n`.length;
  const lines: string[] = [head];
  const count = Math.max(1, Math.ceil((bytes - head.length) / lineBytes));
  for (let i = 0; i < count; i++) lines.push(`  k${String(i).padStart(7, "0")}: "${value}"\n`);
  return lines.join("");
}

/** The billion-laughs YAML: 9 levels of 9 aliases each (9^9 nodes once expanded). */
export function renderAliasBomb(name: string, namespace: string): string {
  const levels = "abcdefghi".split("");
  let text = `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n${meta(name, namespace)}spec:\n`;
  text += `  a: &a [${Array(9).fill('"lol"').join(", ")}]\n`;
  for (let i = 1; i < levels.length; i++)
    text += `  ${levels[i]}: &${levels[i]} [${Array(9)
      .fill(`*${levels[i - 1]}`)
      .join(", ")}]\n`;
  text += `  hosts: *i\n  ports:\n    - number: ${SERVICE_PORT}\n      name: http\n      protocol: HTTP\n`;
  return text;
}

/** A ServiceEntry whose `hosts` is nested `depth` flow sequences deep. */
export function renderDeepNesting(name: string, namespace: string, depth = 10_000): string {
  return (
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n${meta(name, namespace)}spec:\n` +
    `  hosts: ${"[".repeat(depth)}deep.${namespace}.svc.cluster.local${"]".repeat(depth)}\n`
  );
}

function garbage(bytes: number, random: () => number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * Plans bad edits round robin over the kinds, against victims in turn (shifted every round, so
 * each kind meets different victims).
 *
 * @example
 * const planner = new BadEditPlanner(victims, { seed: 1 });
 * const edit = planner.next(); // edit.kind "yaml-syntax", edit.steps[0].ops, edit.revert
 */
export class BadEditPlanner {
  private seq = 0;
  private readonly kinds: readonly BadEditKind[];
  private readonly random: () => number;

  constructor(
    private readonly victims: readonly SyntheticService[],
    private readonly options: BadEditPlannerOptions = {},
  ) {
    if (victims.length === 0) throw new RangeError("BadEditPlanner needs at least one victim service");
    this.kinds = options.kinds ?? BAD_EDIT_KINDS;
    if (this.kinds.length === 0) throw new RangeError("BadEditPlanner needs at least one kind");
    this.random = seededRandom((options.seed ?? 1) * 104_729);
  }

  get planned(): number {
    return this.seq;
  }

  next(): BadEdit {
    const seq = this.seq++;
    const kind = this.kinds[seq % this.kinds.length] as BadEditKind;
    // Consecutive edits meet different victims, and each round of kinds shifts by one, so
    // every kind meets every victim in turn.
    const victim = this.victims[
      (seq + Math.floor(seq / this.kinds.length)) % this.victims.length
    ] as SyntheticService;
    return this.render(seq, kind, victim);
  }

  private render(seq: number, kind: BadEditKind, victim: SyntheticService): BadEdit {
    const original = renderServiceFile(victim);
    const ns = victim.namespace;
    const restoreVictim: BadEditFileOp[] = [{ op: "write", file: victim.file, data: original }];
    const newFile = (what: string, data: string | Uint8Array): BadEdit => {
      const file = soakFile(victim, seq, what);
      return {
        seq,
        kind,
        victim,
        steps: [{ atMs: 0, ops: [{ op: "write", file, data }] }],
        revert: [{ op: "delete", file }],
      };
    };
    const name = `soak-${kind}-${seq}`;
    switch (kind) {
      case "yaml-syntax":
        // An unclosed flow sequence at the end: the file is no longer YAML at all.
        return {
          seq,
          kind,
          victim,
          steps: [
            {
              atMs: 0,
              ops: [{ op: "write", file: victim.file, data: `${original}  ports: [unclosed, {\n` }],
            },
          ],
          revert: restoreVictim,
        };
      case "empty-documents":
        // As Helm renders: a leading separator, a comment-only document and a trailing `---`.
        return {
          seq,
          kind,
          victim,
          steps: [
            {
              atMs: 0,
              ops: [
                {
                  op: "write",
                  file: victim.file,
                  data: `---\n# Source: soak/templates/${victim.name}.yaml\n${original}---\n# only a comment\n---\n`,
                },
              ],
            },
          ],
          revert: restoreVictim,
        };
      case "delete-restore":
        return {
          seq,
          kind,
          victim,
          steps: [
            { atMs: 0, ops: [{ op: "delete", file: victim.file }] },
            { atMs: DELETE_RESTORE_MS, ops: restoreVictim },
          ],
          revert: [],
        };
      case "binary-garbage":
        return newFile("garbage", garbage(64 * 1024, this.random));
      case "oversize-file":
        return newFile(
          "oversize",
          renderOversizeConfigMap(name, ns, this.options.oversizeBytes ?? 6 * 1024 * 1024),
        );
      case "duplicate-service":
        // The same ServiceEntry (name and host) on another port: the one already serving must win.
        return newFile(
          "duplicate",
          `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n${meta(victim.name, ns)}spec:\n` +
            `  hosts:\n    - ${victim.host}\n  location: MESH_INTERNAL\n  resolution: STATIC\n` +
            "  ports:\n    - number: 9999\n      name: http-dup\n      protocol: HTTP\n" +
            "  endpoints:\n    - address: 10.15.255.254\n",
        );
      case "unknown-fields":
        return newFile(
          "unknown-fields",
          `apiVersion: networking.istio.io/v1\nkind: VirtualService\n${meta(name, ns)}spec:\n` +
            `  hosts:\n    - ${victim.host}\n  bogusField: 1\n  gateways:\n    - mesh\n` +
            `  http:\n    - name: typo\n      nonsense: true\n      route:\n        - destination:\n            host: ${victim.host}\n`,
        );
      case "missing-route-host":
        return newFile(
          "missing-host",
          `apiVersion: networking.istio.io/v1\nkind: VirtualService\n${meta(name, ns)}spec:\n` +
            `  hosts:\n    - ${victim.host}\n  http:\n    - name: to-nowhere\n      route:\n` +
            `        - destination:\n            host: missing-${seq}.${ns}.svc.cluster.local\n`,
        );
      case "deep-nesting":
        return newFile("deep", renderDeepNesting(name, ns));
      case "alias-bomb":
        return newFile("alias-bomb", renderAliasBomb(name, ns));
    }
  }
}
