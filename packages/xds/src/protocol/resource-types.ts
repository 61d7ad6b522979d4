/**
 * The typed resource-type registry: what the server knows about each xDS type it serves. The
 * protocol rules and the push order read it instead of hard-coding type names.
 */
import { type ResourceKind, TYPE_URLS } from "./protos.js";

export interface ResourceType {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  /** SotW responses carry the complete subscribed set (LDS, CDS); others may be partial. */
  readonly fullStateSotw: boolean;
  /**
   * Types whose resources must be sent again when one of this type is (re)sent: Envoy keeps a
   * changed cluster warming until its ClusterLoadAssignment arrives again.
   */
  readonly dependents: readonly ResourceKind[];
  /** Position in Istio's push order (CDS, EDS, LDS, RDS): make-before-break. */
  readonly order: number;
}

export const RESOURCE_TYPES: Readonly<Record<ResourceKind, ResourceType>> = {
  cds: { kind: "cds", typeUrl: TYPE_URLS.cds, fullStateSotw: true, dependents: ["eds"], order: 0 },
  eds: { kind: "eds", typeUrl: TYPE_URLS.eds, fullStateSotw: false, dependents: [], order: 1 },
  lds: { kind: "lds", typeUrl: TYPE_URLS.lds, fullStateSotw: true, dependents: [], order: 2 },
  rds: { kind: "rds", typeUrl: TYPE_URLS.rds, fullStateSotw: false, dependents: [], order: 3 },
};
