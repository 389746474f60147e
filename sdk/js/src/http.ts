/** One HTTP call to sellerhub with typed errors and bounded retries. */
import {
  errorFromResponse,
  NetworkError,
  retryAfterSeconds,
  SellerhubError,
  type ProblemBody,
} from "./errors.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  maxRetries: number;
  /** First backoff in ms, doubled per retry with jitter (default 300). */
  backoffMs: number;
  /** Cap of one backoff (default 5000). */
  maxBackoffMs: number;
  /** A Retry-After longer than this (seconds) is not waited for: the error is thrown (60). */
  maxRetryAfter: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxRetries: 3,
  backoffMs: 300,
  maxBackoffMs: 5000,
  maxRetryAfter: 60,
};

/** What may be retried: `safe` — 429, 5xx and network errors (reads; writes that carry an
 * idempotency key; refresh); `throttle` — 429 and 503 only (writes the server does not
 * deduplicate); `never`. */
export type Retry = "safe" | "throttle" | "never";

export interface CallOptions {
  method?: "GET" | "POST";
  json?: unknown;
  form?: Record<string, string>;
  token?: string;
  retry?: Retry;
  signal?: AbortSignal;
}

export interface Env {
  fetch: FetchLike;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

function backoff(policy: RetryPolicy, attempt: number, random: () => number): number {
  const base = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** attempt);
  return base / 2 + (base / 2) * random();
}

async function readBody(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

export async function call<T>(
  env: Env,
  policy: RetryPolicy,
  url: string,
  options: CallOptions = {},
): Promise<T> {
  const method = options.method ?? (options.json !== undefined || options.form ? "POST" : "GET");
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  }
  if (options.token) headers["Authorization"] = `Bearer ${options.token}`;
  const retry = options.retry ?? (method === "GET" ? "safe" : "never");
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= policy.maxRetries || retry === "never";
    let response: Response;
    try {
      response = await env.fetch(url, {
        method,
        headers,
        body,
        credentials: "omit", // app tokens only: never sellerhub's cookies
        cache: "no-store",
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (last || retry !== "safe") {
        throw new NetworkError(`sellerhub was not reached: ${String(error)}`, {
          code: "network-error",
        });
      }
      await env.sleep(backoff(policy, attempt, env.random));
      continue;
    }
    if (response.ok) return (await readBody(response)) as T;
    const status = response.status;
    const retryable =
      status === 429 ||
      (retry === "safe" && status >= 500 && status !== 501) ||
      (retry === "throttle" && status === 503);
    const after = retryAfterSeconds(response.headers.get("retry-after"));
    if (!last && retryable && (after === undefined || after <= policy.maxRetryAfter)) {
      await response.body?.cancel().catch(() => undefined);
      await env.sleep(after !== undefined ? after * 1000 : backoff(policy, attempt, env.random));
      continue;
    }
    const problem = (await readBody(response)) as ProblemBody | undefined;
    throw errorFromResponse(status, problem, response.headers);
  }
}

export { SellerhubError };
