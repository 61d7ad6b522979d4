/**
 * The load harness's writer to a Kubernetes API server: HTTP/2 with a bearer token, one
 * multiplexed connection, as client-go (and so the endpointslice controller) talks to it. It only
 * creates and patches objects (the control planes under test read them with their own clients),
 * so @meshctl/xds needs no Kubernetes client library for it, and the writes cost the harness
 * little CPU next to the servers it measures.
 */
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { MeshctlError } from "@meshctl/core";

/** What a writer needs: the API server's URL, a token with write access, and its CA (PEM). */
export interface KubeWriteAccess {
  readonly server: string;
  readonly token: string;
  readonly ca: string;
}

export interface KubeApiResponse {
  readonly status: number;
  readonly body: string;
}

export type KubePatchType = "merge" | "strategic" | "json";

const PATCH_CONTENT_TYPES: Record<KubePatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

/** The REST path of a collection (`namespace` undefined: cluster-scoped). */
export function kubeCollectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const prefix = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace === undefined ? `${prefix}/${plural}` : `${prefix}/namespaces/${namespace}/${plural}`;
}

/**
 * @example
 * const api = new KubeApiWriter({ server, token, ca });
 * await api.create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "ns-00" } });
 * await api.patch("/apis/discovery.k8s.io/v1/namespaces/ns-00/endpointslices/svc-0", { endpoints: [] });
 * api.close();
 */
export class KubeApiWriter {
  private session: ClientHttp2Session | undefined;
  private readonly timeoutMs: number;

  constructor(
    private readonly access: KubeWriteAccess,
    options: { readonly timeoutMs?: number } = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The HTTP/2 session, opened again after the server closed it (GOAWAY, error). */
  private connection(): ClientHttp2Session {
    const open = this.session;
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(this.access.server, { ca: this.access.ca });
    session.on("error", () => {
      // Each request sees its own stream's error; a broken session is replaced on the next request.
    });
    session.unref();
    this.session = session;
    return session;
  }

  /** One request; resolves with any HTTP status (the callers decide what is an error). */
  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeApiResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const stream = this.connection().request({
        [constants.HTTP2_HEADER_METHOD]: method,
        [constants.HTTP2_HEADER_PATH]: path,
        authorization: `Bearer ${this.access.token}`,
        accept: "application/json",
        ...(payload === undefined ? {} : { "content-type": contentType, "content-length": payload.length }),
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.setTimeout(this.timeoutMs, () =>
        stream.close(constants.NGHTTP2_CANCEL, () =>
          reject(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)),
        ),
      );
      stream.on("response", (headers) => {
        status = Number(headers[constants.HTTP2_HEADER_STATUS] ?? 0);
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      stream.on("error", reject);
      stream.end(payload);
    });
  }

  /** Creates an object; `alreadyExists: "ok"` accepts HTTP 409. Throws on any other failure. */
  async create(
    collectionPath: string,
    object: unknown,
    opts: { alreadyExists?: "ok" | "error" } = {},
  ): Promise<void> {
    const r = await this.request("POST", collectionPath, object);
    if (r.status === 201 || r.status === 200 || (r.status === 409 && opts.alreadyExists === "ok")) return;
    throw kubeWriteError("POST", collectionPath, r);
  }

  /** Patches an object (JSON merge patch unless told otherwise). */
  async patch(objectPath: string, patch: unknown, type: KubePatchType = "merge"): Promise<void> {
    const r = await this.request("PATCH", objectPath, patch, PATCH_CONTENT_TYPES[type]);
    if (r.status === 200 || r.status === 201) return;
    throw kubeWriteError("PATCH", objectPath, r);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

function kubeWriteError(method: string, path: string, r: KubeApiResponse): MeshctlError {
  let message = r.body.slice(0, 400);
  try {
    message = (JSON.parse(r.body) as { message?: string }).message ?? message;
  } catch {
    // not a Status object: keep the raw text
  }
  return new MeshctlError("XDS_LOAD_KUBE_WRITE_FAILED", `${method} ${path}: HTTP ${r.status}: ${message}`, {
    kind: "external",
  });
}

/**
 * Runs `task` over `items` with at most `concurrency` in flight; the first failure rejects
 * (after the tasks already started settle, so nothing keeps writing behind the caller's back).
 *
 * @example
 * await forEachLimited(objects, 32, (o) => api.create(path(o), o));
 */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await task(items[i] as T, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure) throw failure.error;
}
