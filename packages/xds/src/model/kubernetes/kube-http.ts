/**
 * GET and watch against the API server with the credentials of a client-node KubeConfig (token,
 * client certificate, exec plugin, in-cluster service account: `applyToHTTPSOptions` re-reads
 * rotating tokens on every request). Failures become KubeErrors naming the verb and the resource,
 * so "RBAC forbids list on virtualservices.networking.istio.io" reads as such.
 *
 * Only types are imported from @meshctl/kube and client-node here: loading them costs ~0.7 s and
 * ~70 MB, which a control plane serving a YAML directory must not pay. The source loads them
 * when it starts and hands the KubeError class in.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeError } from "@meshctl/kube";

export type KubeErrorClass = typeof KubeError;

/** What a request was for: named in every error. */
export interface KubeRequestContext {
  readonly verb: "get" | "list" | "watch";
  /** RBAC name: `services`, `endpointslices.discovery.k8s.io`, `virtualservices.networking.istio.io`. */
  readonly resource: string;
}

/** One line of a watch stream. */
export interface KubeWatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: KubeObject;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
  };
  /** A `Status` (watch ERROR events). */
  code?: number;
  message?: string;
  reason?: string;
  [field: string]: unknown;
}

/** HTTP 410 Gone: the resourceVersion was compacted away; the caller must list again. */
export class ResourceExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResourceExpiredError";
  }
}

const MAX_ERROR_BODY = 64 * 1024;

function statusMessage(body: string): string | undefined {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === "string" ? status.message : undefined;
  } catch {
    return body.trim().slice(0, 300) || undefined;
  }
}

/** A KubeError for an HTTP status (or a 410 signal), naming what was attempted. */
function kubeHttpError(
  KubeError: KubeErrorClass,
  status: number,
  message: string | undefined,
  ctx: KubeRequestContext,
  server: string,
): Error {
  const what = `${ctx.verb} ${ctx.resource}`;
  if (status === 410) return new ResourceExpiredError(message ?? `${what}: resource version expired`);
  if (status === 403)
    return new KubeError(
      "KUBE_FORBIDDEN",
      `The API server forbids ${what} (RBAC): ${message ?? "HTTP 403"}`,
      {
        kind: "environment",
        details: { verb: ctx.verb, resource: ctx.resource, status, server },
        suggestions: [
          `Grant get, list and watch on ${ctx.resource} to the control plane's identity (a ClusterRole and its binding; meshctl install creates them).`,
        ],
      },
    );
  if (status === 401)
    return new KubeError(
      "KUBE_API_ERROR",
      `The API server did not accept the credentials for ${what} (HTTP 401): ${message ?? ""}`,
      {
        kind: "environment",
        details: { verb: ctx.verb, resource: ctx.resource, status, server },
        suggestions: [
          "Check the token or client certificate of the kubeconfig user (or the service account).",
        ],
      },
    );
  return new KubeError("KUBE_API_ERROR", `${what} failed: HTTP ${status}${message ? `: ${message}` : ""}`, {
    kind: "environment",
    details: { verb: ctx.verb, resource: ctx.resource, status, server },
  });
}

function unreachable(
  KubeError: KubeErrorClass,
  cause: unknown,
  ctx: KubeRequestContext,
  server: string,
): KubeError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new KubeError(
    "KUBE_UNREACHABLE",
    `The API server ${server} did not answer ${ctx.verb} ${ctx.resource}: ${reason}`,
    {
      kind: "environment",
      cause,
      details: { verb: ctx.verb, resource: ctx.resource, server },
      suggestions: ["Check that the API server is up and reachable, and the kubeconfig's server address."],
    },
  );
}

/** The API server of one KubeConfig context. */
export class KubeHttp {
  readonly server: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly KubeError: KubeErrorClass,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new KubeError("KUBE_CONFIG_INVALID", "The kubeconfig has no current cluster.", {
        kind: "usage",
        suggestions: ["Pass --context NAME."],
      });
    this.server = cluster.server.replace(/\/+$/, "");
  }

  /** The error for an HTTP status (a watch's ERROR event carries one too). */
  error(status: number, message: string | undefined, ctx: KubeRequestContext): Error {
    return kubeHttpError(this.KubeError, status, message, ctx, this.server);
  }

  private async open(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    ctx: KubeRequestContext,
    opts: { signal?: AbortSignal; idleTimeoutMs: number },
  ): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const options: RequestOptions = { method: "GET", headers: { accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(options);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === "http:" ? httpRequest : httpsRequest)(
        url,
        { ...options, ...(opts.signal ? { signal: opts.signal } : {}) },
        resolve,
      );
      req.on("error", (error) => reject(unreachable(this.KubeError, error, ctx, this.server)));
      // An idle socket (no byte for this long) is dead: the caller reconnects.
      req.setTimeout(opts.idleTimeoutMs, () =>
        req.destroy(new Error(`no data for ${Math.round(opts.idleTimeoutMs / 1000)} s`)),
      );
      req.end();
    });
    if (response.statusCode === 200) return response;
    let body = "";
    response.setEncoding("utf8");
    await new Promise<void>((resolve) => {
      response.on("data", (chunk: string) => {
        if (body.length < MAX_ERROR_BODY) body += chunk;
      });
      response.on("end", resolve);
      response.on("error", () => resolve());
      response.on("close", () => resolve());
    });
    throw this.error(response.statusCode ?? 0, statusMessage(body), ctx);
  }

  /** GET a JSON document (a list page, a discovery document). */
  async getJson<T>(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    ctx: KubeRequestContext,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T> {
    const response = await this.open(path, query, ctx, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      idleTimeoutMs: opts.timeoutMs ?? 60_000,
    });
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of response) chunks.push(chunk as Buffer);
    } catch (cause) {
      throw unreachable(this.KubeError, cause, ctx, this.server);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as T;
    } catch (cause) {
      throw new this.KubeError("KUBE_API_ERROR", `${ctx.verb} ${ctx.resource}: the answer is not JSON`, {
        kind: "environment",
        cause,
      });
    }
  }

  /**
   * Streams a watch: `onEvent` for every line, resolves when the server ends the stream (its
   * `timeoutSeconds`, a restart), rejects with a KubeError (or ResourceExpiredError for 410)
   * when it cannot be opened or breaks. Aborting `signal` resolves.
   */
  async watch(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    ctx: KubeRequestContext,
    onEvent: (event: KubeWatchEvent) => void,
    opts: { signal: AbortSignal; idleTimeoutMs: number; onOpen?: () => void },
  ): Promise<void> {
    let response: IncomingMessage;
    try {
      response = await this.open(path, { ...query, watch: "true" }, ctx, opts);
    } catch (error) {
      if (opts.signal.aborted) return;
      throw error;
    }
    opts.onOpen?.();
    response.setEncoding("utf8");
    let partial = "";
    try {
      for await (const chunk of response) {
        const lines = (partial + (chunk as string)).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (line.trim() === "") continue;
          let event: KubeWatchEvent;
          try {
            event = JSON.parse(line) as KubeWatchEvent;
          } catch (cause) {
            throw new this.KubeError(
              "KUBE_API_ERROR",
              `${ctx.verb} ${ctx.resource}: a watch event is not JSON`,
              {
                kind: "environment",
                cause,
              },
            );
          }
          onEvent(event);
        }
      }
    } catch (error) {
      if (opts.signal.aborted) return;
      if (error instanceof this.KubeError || error instanceof ResourceExpiredError) throw error;
      throw unreachable(this.KubeError, error, ctx, this.server);
    }
  }
}
