/** API clients with a per-request deadline, and API failures turned into facts. */
import {
  ApiException,
  createConfiguration,
  type KubeConfig,
  type Middleware,
  ServerConfiguration,
} from "@kubernetes/client-node";
import { isMeshctlError } from "@meshctl/core";
import type { KubeErrorCode } from "../errors.js";
import type { ClusterFactError, Gathered } from "./types.js";

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

/**
 * An API client like `kc.makeApiClient(Api)` whose every request is aborted after `timeoutMs`:
 * a black-holed API server must become a finding, not a diagnose that never returns.
 *
 * @example
 * const core = makeDeadlineApiClient(kc, CoreV1Api, 10_000);
 * await core.listNamespace();
 */
export function makeDeadlineApiClient<T>(kc: KubeConfig, Api: ApiConstructor<T>, timeoutMs: number): T {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig has no current cluster");
  const deadline: Middleware = {
    pre: async (context) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      return context;
    },
    post: async (response) => response,
  };
  return new Api(
    createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [deadline],
    }),
  );
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
]);

function statusMessage(body: unknown): string | undefined {
  const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === "string" && status.message) return status.message;
  } catch {
    // Not a Kubernetes Status (a proxy's HTML page, "404 page not found"): use the text itself.
  }
  return text.trim() || undefined;
}

/**
 * Describes why a request failed: an HTTP status from the API server (403 = RBAC, with the
 * server's message naming user, verb and resource), no answer, a TLS or connection error.
 *
 * @example
 * try { await core.listPodForAllNamespaces(); }
 * catch (e) { clusterFactError(e, "list pods in all namespaces").code; } // "KUBE_FORBIDDEN"
 */
export function clusterFactError(error: unknown, request: string): ClusterFactError {
  if (error instanceof ApiException) {
    const status = Number(error.code);
    const message = statusMessage(error.body) ?? `HTTP ${status}`;
    const code: KubeErrorCode = status === 403 ? "KUBE_FORBIDDEN" : "KUBE_API_ERROR";
    return { code, message, request, httpStatus: status };
  }
  if (isMeshctlError(error)) {
    return { code: error.code as KubeErrorCode, message: error.message, request, httpStatus: null };
  }
  const e = error as { name?: string; code?: string; message?: string; type?: string };
  if (e?.name === "AbortError" || e?.name === "TimeoutError") {
    return { code: "KUBE_TIMEOUT", message: "no answer before the deadline", request, httpStatus: null };
  }
  const message = e?.message ?? String(error);
  // node-fetch's FetchError carries the system error code; TLS failures carry OpenSSL's.
  if (
    e?.type === "system" ||
    (e?.code !== undefined && (NETWORK_CODES.has(e.code) || /CERT|SSL|TLS/.test(e.code)))
  )
    return { code: "KUBE_UNREACHABLE", message, request, httpStatus: null };
  return { code: "KUBE_API_ERROR", message, request, httpStatus: null };
}

const MAX_RETRIES = 3;
const MAX_RETRY_AFTER_MS = 2000;

/** How long a 429 asks to wait (client-go retries these too), or undefined for other failures. */
function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof ApiException) || Number(error.code) !== 429) return undefined;
  const header = (error.headers as Record<string, string> | undefined)?.["retry-after"];
  const seconds = Number(header);
  return Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 500, MAX_RETRY_AFTER_MS);
}

/**
 * Runs one request and returns its value or the reason it failed; never throws. Given the
 * request deadline, a failure at the deadline is reported as KUBE_TIMEOUT. A 429 with
 * Retry-After (e.g. "storage is (re)initializing" right after a CRD is established) is retried
 * a few times, as client-go does.
 *
 * @example
 * const version = await gatherFact("GET /version", () => versionApi.getCode());
 */
export async function gatherFact<T>(
  request: string,
  run: () => Promise<T>,
  timeoutMs?: number,
): Promise<Gathered<T>> {
  for (let attempt = 0; ; attempt++) {
    const started = Date.now();
    try {
      return { ok: true, value: await run() };
    } catch (error) {
      const wait = retryAfterMs(error);
      if (wait === undefined || attempt >= MAX_RETRIES) {
        const e = clusterFactError(error, request);
        // An abort mid-TLS-handshake surfaces as a socket error, not an AbortError: the clock tells.
        const late = timeoutMs !== undefined && Date.now() - started >= timeoutMs;
        return {
          ok: false,
          error:
            late && (e.code === "KUBE_UNREACHABLE" || e.code === "KUBE_TIMEOUT")
              ? { ...e, code: "KUBE_TIMEOUT", message: `no answer within ${timeoutMs} ms` }
              : e,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/**
 * Lists every page of a list call (500 items a page), so big clusters do not need one huge response.
 *
 * @example
 * const pods = await listAllPages((cont) => core.listPodForAllNamespaces({ limit: 500, _continue: cont }));
 */
export async function listAllPages<T>(
  page: (continueToken: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
): Promise<T[]> {
  const all: T[] = [];
  let token: string | undefined;
  do {
    const list = await page(token);
    all.push(...list.items);
    token = list.metadata?._continue || undefined;
  } while (token);
  return all;
}

export const PAGE_SIZE = 500;
