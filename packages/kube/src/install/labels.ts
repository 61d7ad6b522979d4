/**
 * How meshctl marks what it installs. Uninstall trusts neither alone: an object is meshctl's when
 * it carries these labels AND its managedFields record an Apply by the `meshctl` field manager, so
 * copied labels or a same-named object someone else created are never deleted.
 */

/** The server-side apply field manager of every meshctl install. */
export const FIELD_MANAGER = "meshctl";

export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_PART_OF = "app.kubernetes.io/part-of";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_NAME = "app.kubernetes.io/name";
/** The install's namespace: cluster-scoped objects of two installs stay apart. */
export const LABEL_INSTANCE = "app.kubernetes.io/instance";

/** The labels every installed object carries. */
export function meshctlLabels(component: string, namespace: string): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: "meshctl",
    [LABEL_PART_OF]: "meshctl",
    [LABEL_COMPONENT]: component,
    [LABEL_INSTANCE]: namespace,
  };
}

/** The label selector uninstall lists with. */
export function meshctlSelector(namespace: string): string {
  return `${LABEL_MANAGED_BY}=meshctl,${LABEL_PART_OF}=meshctl,${LABEL_INSTANCE}=${namespace}`;
}
