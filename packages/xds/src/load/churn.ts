/**
 * Churn of the synthetic mesh. Every change carries a marker that is unique per change and
 * that a proxy can find in the raw bytes of the resource that carries it, without decoding it:
 *  - endpoints: one endpoint address replaced by a marker address (SocketAddress.address),
 *  - routes: the VirtualService's weights rewritten and its http route renamed (Route.name),
 *  - services: a new service (its cluster name in CDS).
 */
import { MeshctlError } from "@meshctl/core";
import {
  markerAddress,
  renderServiceFile,
  SERVICE_PORT,
  type SyntheticEndpoint,
  type SyntheticMeshDescription,
  type SyntheticService,
  syntheticService,
} from "./synthetic-mesh.js";

export const CHURN_KINDS = ["endpoints", "services", "routes"] as const;
export type ChurnKind = (typeof CHURN_KINDS)[number];

export interface ChurnChange {
  readonly seq: number;
  readonly kind: ChurnKind;
  /** The service after the change. */
  readonly service: SyntheticService;
  /** Files to write (relative path -> YAML). */
  readonly files: Readonly<Record<string, string>>;
  /** The xDS type whose resources carry the change. */
  readonly resourceKind: "eds" | "rds" | "cds";
  /** Resource names that carry the change (Istio naming, used by meshctl and istiod alike). */
  readonly affectedNames: readonly string[];
  readonly marker: string;
  /** Bytes to find in a raw resource; null when the resource's name itself is the marker. */
  readonly needle: Buffer | null;
}

/** A small deterministic PRNG (mulberry32), so two runs churn the same services. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The protobuf encoding of a string in field 2 (SocketAddress.address): tag, length, bytes. */
export function socketAddressNeedle(address: string): Buffer {
  const ascii = Buffer.from(address, "latin1");
  return Buffer.concat([Buffer.from([0x12, ascii.length]), ascii]);
}

export function outboundCluster(host: string, subset = ""): string {
  return `outbound|${SERVICE_PORT}|${subset}|${host}`;
}

/**
 * Plans changes one at a time (the caller applies them through a target driver).
 *
 * @example
 * const planner = new ChurnPlanner(mesh.description, { kinds: ["endpoints"], seed: 1 });
 * const change = planner.next(); // change.files["ns-03/svc-53.yaml"], change.affectedNames
 */
export class ChurnPlanner {
  private readonly services: SyntheticService[];
  private readonly routed: number[];
  private readonly rotation = new Map<number, number>();
  private readonly excluded = new Set<number>();
  private readonly random: () => number;
  private seq = 0;
  private nextIndex: number;

  constructor(
    private readonly description: SyntheticMeshDescription,
    private readonly opts: {
      readonly kinds: readonly ChurnKind[];
      readonly seed?: number;
      /** Addresses never replaced (the simulated proxies' own IPs, so inbound listeners stay put). */
      readonly reservedAddresses?: ReadonlySet<string>;
    },
  ) {
    if (opts.kinds.length === 0)
      throw new MeshctlError("XDS_LOAD_INVALID_OPTION", "At least one churn kind is needed.", {
        kind: "usage",
        suggestions: [`Pass --churn-kinds with some of ${CHURN_KINDS.join(", ")}.`],
      });
    this.services = [...description.services];
    this.routed = this.services.filter((s) => s.routed).map((s) => s.index);
    if (opts.kinds.includes("routes") && this.routed.length === 0)
      throw new MeshctlError("XDS_LOAD_INVALID_OPTION", "Route churn needs routed services.", {
        kind: "usage",
        suggestions: ["Raise --routed above 0, or drop routes from --churn-kinds."],
      });
    this.random = seededRandom(opts.seed ?? 1);
    this.nextIndex = this.services.reduce((m, s) => Math.max(m, s.index + 1), 0);
  }

  get applied(): number {
    return this.seq;
  }

  /**
   * Never changes service `index` again: it is held back for other edits (a soak's bad edits)
   * or its file was deleted. At least one service of each kind the planner churns must remain.
   */
  exclude(index: number): void {
    this.excluded.add(index);
  }

  next(): ChurnChange {
    const kinds = this.opts.kinds;
    const kind = kinds[Math.floor(this.random() * kinds.length)] as ChurnKind;
    const seq = this.seq++;
    if (kind === "services") return this.addService(seq);
    if (kind === "routes") return this.rewriteRoute(seq);
    return this.replaceEndpoint(seq);
  }

  private pick(indexes?: readonly number[]): SyntheticService {
    const draw = () =>
      indexes
        ? (indexes[Math.floor(this.random() * indexes.length)] as number)
        : Math.floor(this.random() * this.services.length);
    let index = draw();
    for (let tries = 0; this.excluded.has(index) || this.services[index] === undefined; tries++) {
      if (tries >= 64) {
        // Mostly excluded: take the first eligible one rather than draw forever.
        const pool = indexes ?? this.services.map((_, i) => i);
        const found = pool.find((i) => !this.excluded.has(i) && this.services[i] !== undefined);
        if (found === undefined)
          throw new MeshctlError("XDS_LOAD_INVALID_OPTION", "Every service is excluded from churn.", {
            kind: "usage",
            suggestions: ["Use more services."],
          });
        index = found;
        break;
      }
      index = draw();
    }
    return this.services[index] as SyntheticService;
  }

  private replaceEndpoint(seq: number): ChurnChange {
    const service = this.pick();
    const n = service.endpoints.length;
    const reserved = this.opts.reservedAddresses;
    let slot = this.rotation.get(service.index) ?? 0;
    // Rotate through the slots, skipping proxies' own addresses: each marker survives n changes
    // of its service, so a proxy that sees a later state has seen this one (see ChurnTracker).
    for (let tries = 0; tries < n && reserved?.has(service.endpoints[slot % n]?.address ?? ""); tries++)
      slot++;
    slot %= n;
    this.rotation.set(service.index, slot + 1);
    const marker = markerAddress(seq);
    const old = service.endpoints[slot] as SyntheticEndpoint;
    const endpoints = service.endpoints.map((e, i) =>
      i === slot ? { address: marker, version: e.version } : e,
    );
    const next: SyntheticService = { ...service, endpoints };
    this.services[service.index] = next;
    const affectedNames = [outboundCluster(service.host)];
    if (service.routed) affectedNames.push(outboundCluster(service.host, old.version));
    return {
      seq,
      kind: "endpoints",
      service: next,
      files: { [next.file]: renderServiceFile(next) },
      resourceKind: "eds",
      affectedNames,
      marker,
      needle: socketAddressNeedle(marker),
    };
  }

  private rewriteRoute(seq: number): ChurnChange {
    const service = this.pick(this.routed);
    const v1 = 1 + Math.floor(this.random() * 98);
    const marker = `churn-route-${String(seq).padStart(9, "0")}`;
    const next: SyntheticService = { ...service, weights: [v1, 100 - v1], routeName: marker };
    this.services[service.index] = next;
    return {
      seq,
      kind: "routes",
      service: next,
      files: { [next.file]: renderServiceFile(next) },
      resourceKind: "rds",
      // Envoy sidecars: one route config per port; proxyless gRPC: one per service port.
      affectedNames: [String(SERVICE_PORT), outboundCluster(service.host)],
      marker,
      needle: Buffer.from(marker, "latin1"),
    };
  }

  private addService(seq: number): ChurnChange {
    const index = this.nextIndex++;
    const namespaces = this.description.namespaces;
    const ns = namespaces[Math.floor(this.random() * namespaces.length)] as string;
    const service = syntheticService(index, ns, this.description.endpointsPerService, false);
    this.services[index] = service;
    const cluster = outboundCluster(service.host);
    return {
      seq,
      kind: "services",
      service,
      files: { [service.file]: renderServiceFile(service) },
      resourceKind: "cds",
      affectedNames: [cluster],
      marker: cluster,
      needle: null,
    };
  }
}
