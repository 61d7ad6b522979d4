/**
 * The Istio networking CRDs the control plane watches, in their smallest valid form: the names,
 * scope and versions Istio serves (v1alpha3 stored, v1beta1 and v1 served) with a schema that keeps
 * `spec` and `status` as they are. They let meshctl run on a cluster without Istio; where Istio's
 * own CRDs are present (with full schemas) install leaves them alone, and it only ever applies
 * these when asked (`--install-crds`) and when the CRD is absent.
 */
import type { KubeObject } from "./rest-client.js";

/** The Istio kinds the control plane lists and watches (its RBAC names the same resources). */
export const ISTIO_NETWORKING_KINDS = [
  { kind: "VirtualService", plural: "virtualservices", shortNames: ["vs"] },
  { kind: "DestinationRule", plural: "destinationrules", shortNames: ["dr"] },
  { kind: "Sidecar", plural: "sidecars", shortNames: [] },
  { kind: "ServiceEntry", plural: "serviceentries", shortNames: ["se"] },
  { kind: "WorkloadEntry", plural: "workloadentries", shortNames: ["we"] },
] as const;

export const ISTIO_NETWORKING_GROUP = "networking.istio.io";

const OPEN_SCHEMA = {
  openAPIV3Schema: {
    type: "object",
    properties: {
      spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  },
};

/**
 * The minimal CRDs, labelled like everything meshctl installs.
 *
 * @example
 * renderIstioNetworkingCrds({ "app.kubernetes.io/managed-by": "meshctl" }).map((c) => c.metadata.name);
 * // ["virtualservices.networking.istio.io", ...]
 */
export function renderIstioNetworkingCrds(labels: Readonly<Record<string, string>>): KubeObject[] {
  return ISTIO_NETWORKING_KINDS.map(({ kind, plural, shortNames }) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${ISTIO_NETWORKING_GROUP}`, labels: { ...labels } },
    spec: {
      group: ISTIO_NETWORKING_GROUP,
      scope: "Namespaced",
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        categories: ["istio-io", "networking-istio-io"],
        ...(shortNames.length ? { shortNames: [...shortNames] } : {}),
      },
      versions: ["v1alpha3", "v1beta1", "v1"].map((name) => ({
        name,
        served: true,
        storage: name === "v1alpha3",
        schema: OPEN_SCHEMA,
        subresources: { status: {} },
      })),
    },
  }));
}
