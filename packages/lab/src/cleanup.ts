import { lstat, readdir, readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "@meshctl/core";
import { deleteNetns, findCgroup2Root, listNetns, removeCgroupTree, SIDECAR_UID } from "@meshctl/pod";
import { LAB_PREFIX } from "./plan.js";
import { requireLabRoot } from "./preflight.js";
import { ENVOY_SHM_DIR, labIdOfEnvoyShm } from "./sidecar.js";

/** What `cleanupLabLeftovers` found and did. */
export interface LabCleanupReport {
  readonly removed: readonly string[];
  /** Labs still owned by a live process, left alone. */
  readonly active: readonly string[];
  readonly problems: readonly string[];
}

async function ownerAlive(id: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(join("/tmp", `${LAB_PREFIX}lab-${id}`, "owner.pid"), "utf8")).trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `error` says the path was already gone (someone else removed it: not our removal). */
function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/**
 * Removes what crashed lab runs left behind: `mcl-*` namespaces, `mcl-lab-*` cgroups, bpffs pins,
 * work directories, and the hot-restart shared memory (`/dev/shm/envoy_shared_memory_*`) of Envoy
 * sidecars from lab versions that ran Envoy with hot restart: only files in the lab's base-id
 * range that belong to the sidecar uid (see `labIdOfEnvoyShm`), so other Envoys' files stay.
 * Labs whose owning process is still alive are skipped unless `force`. `removed` lists only what
 * this call removed; what it could not remove is in `problems`. Needs root, and checks that
 * first: unprivileged it removes nothing and throws LAB_REQUIRES_ROOT.
 *
 * @example
 * const { removed, problems } = await cleanupLabLeftovers();
 */
export async function cleanupLabLeftovers(options: { force?: boolean } = {}): Promise<LabCleanupReport> {
  requireLabRoot(
    `Removing the mesh lab's leftovers needs root: its network namespaces, cgroups and bpffs pins belong to root, and its Envoy sidecars' shared memory to uid ${SIDECAR_UID}. Nothing was removed.`,
    ["Run it with sudo: `sudo meshctl bench --cleanup`."],
  );
  const removed: string[] = [];
  const active = new Set<string>();
  const problems: string[] = [];
  const idOf = (name: string) => /^mcl-(?:lab-)?([0-9a-f]{4})(?:-|$)/.exec(name)?.[1];
  const keep = async (name: string) => {
    const id = idOf(name);
    if (!options.force && id && (await ownerAlive(id))) {
      active.add(id);
      return true;
    }
    return false;
  };
  /** Runs one removal; claims it only when `remove` reports that this call removed the thing. */
  const attempt = async (what: string, remove: () => Promise<boolean>) => {
    try {
      if (await remove()) removed.push(what);
    } catch (error) {
      if (!isMissing(error)) problems.push(`${what}: ${errorMessage(error)}`);
    }
  };
  const namespaces = (await listNetns()).filter((n) => n.startsWith(LAB_PREFIX));
  // Pods before node namespaces so bridges go last.
  namespaces.sort((a, b) => Number(a.endsWith("-node")) - Number(b.endsWith("-node")));
  for (const ns of namespaces) {
    if (await keep(ns)) continue;
    await attempt(`netns ${ns}`, () => deleteNetns(ns));
  }
  const roots = new Set<string>();
  try {
    roots.add(await findCgroup2Root());
  } catch {
    // no cgroup2: nothing to clean there
  }
  const dirs = async (parent: string, prefix: string) => {
    try {
      return (await readdir(parent, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
        .map((e) => join(parent, e.name));
    } catch {
      return [];
    }
  };
  for (const root of roots) {
    for (const dir of await dirs(root, `${LAB_PREFIX}lab-`)) {
      if (await keep(dir.slice(root.length + 1))) continue;
      await attempt(`cgroup ${dir}`, () => removeCgroupTree(dir));
    }
  }
  for (const [parent, kind] of [
    ["/sys/fs/bpf", "bpffs"],
    ["/tmp", "workdir"],
  ] as const) {
    for (const dir of await dirs(parent, `${LAB_PREFIX}lab-`)) {
      if (await keep(dir.slice(parent.length + 1))) continue;
      // No `force`: a directory that vanished meanwhile is not ours to claim.
      await attempt(`${kind} ${dir}`, () => rm(dir, { recursive: true }).then(() => true));
    }
  }
  for (const name of await readdir(ENVOY_SHM_DIR).catch(() => [] as string[])) {
    const id = labIdOfEnvoyShm(name);
    if (!id) continue;
    const file = join(ENVOY_SHM_DIR, name);
    const stat = await lstat(file).catch(() => undefined);
    if (!stat?.isFile() || stat.uid !== SIDECAR_UID) continue;
    if (await keep(`${LAB_PREFIX}lab-${id}`)) continue;
    await attempt(`envoy shared memory ${file}`, () => unlink(file).then(() => true));
  }
  return { removed, active: [...active], problems };
}
