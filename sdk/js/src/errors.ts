/** Typed errors. Every failure of the SDK is a SellerhubError; API errors carry the server's
 * problem+json `code` (or the OAuth `error` of /oauth/token), the HTTP status and the detail. */

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  error?: string;
  error_description?: string;
  [field: string]: unknown;
}

export class SellerhubError extends Error {
  /** HTTP status (0 when no answer came: network, popup, timeout). */
  readonly status: number;
  /** The problem's `code` (e.g. `insufficient-credits`), the OAuth `error`, or the SDK's own. */
  readonly code: string;
  readonly detail: string;
  /** The whole problem document, when the server answered one. */
  readonly body: ProblemBody | undefined;
  readonly requestId: string | undefined;

  constructor(
    message: string,
    init: { status?: number; code?: string; body?: ProblemBody; requestId?: string } = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.status = init.status ?? 0;
    this.code = init.code ?? "error";
    this.detail = message;
    this.body = init.body;
    this.requestId = init.requestId;
  }
}

/** 400 a malformed request (and `invalid_request` / `invalid_grant` of /oauth/token). */
export class BadRequest extends SellerhubError {}
/** 401: no token, an expired or revoked one, a reused refresh token (`refresh-token-reused`). */
export class NotAuthenticated extends SellerhubError {}
/** 402 `insufficient-credits`; `balance` = the credits available. */
export class InsufficientCredits extends SellerhubError {
  readonly balance: number | undefined;
  constructor(message: string, init: ConstructorParameters<typeof SellerhubError>[1] = {}) {
    super(message, init);
    const balance = init.body?.["balance"];
    this.balance = typeof balance === "number" ? balance : undefined;
  }
}
/** 403: a permission missing, an origin not registered (`origin-not-allowed`), an app disabled. */
export class Forbidden extends SellerhubError {}
export class NotFound extends SellerhubError {}
/** 409; `idempotency-key-reused` when the key was used for another request. */
export class Conflict extends SellerhubError {}
export class IdempotencyKeyReused extends Conflict {}
/** 422; `errors` = [{field, message}]. */
export class ValidationFailed extends SellerhubError {
  get errors(): { field: string; message: string }[] {
    const errors = this.body?.["errors"];
    return Array.isArray(errors) ? (errors as { field: string; message: string }[]) : [];
  }
}
/** 429 after the retries; `retryAfter` in seconds (what the server asked). */
export class RateLimited extends SellerhubError {
  readonly retryAfter: number | undefined;
  constructor(
    message: string,
    init: ConstructorParameters<typeof SellerhubError>[1] & { retryAfter?: number } = {},
  ) {
    super(message, init);
    this.retryAfter = init.retryAfter;
  }
}
/** 5xx after the retries. */
export class ServerError extends SellerhubError {}
/** sellerhub was not reached (offline, DNS, CORS refused, connection reset) after the retries. */
export class NetworkError extends SellerhubError {}

// --- embedded login ------------------------------------------------------------------------
/** window.open returned null: call login() from a click handler, or allow popups. */
export class PopupBlocked extends SellerhubError {}
/** The popup (or iframe) went away before it answered. */
export class PopupClosed extends SellerhubError {}
/** No answer within `timeoutMs`. */
export class LoginTimeout extends SellerhubError {}
/** The login page answered an error (`access_denied`, `invalid_request`), or the code exchange
 * failed; `code` is the OAuth error. */
export class LoginFailed extends SellerhubError {}

function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

/** The typed error for an HTTP answer that is not a success. */
export function errorFromResponse(
  status: number,
  body: ProblemBody | undefined,
  headers: { get(name: string): string | null },
): SellerhubError {
  const code = body?.code ?? body?.error ?? `http-${status}`;
  const detail =
    body?.detail ?? body?.error_description ?? body?.title ?? `sellerhub answered ${status}`;
  const init = { status, code, body, requestId: headers.get("x-request-id") ?? undefined };
  if (code === "insufficient-credits" || status === 402) return new InsufficientCredits(detail, init);
  if (code === "idempotency-key-reused") return new IdempotencyKeyReused(detail, init);
  if (code === "invalid_grant" || code === "unauthorized_client" || code === "invalid_client")
    return new LoginFailed(detail, init);
  switch (status) {
    case 400:
      return new BadRequest(detail, init);
    case 401:
      return new NotAuthenticated(detail, init);
    case 403:
      return new Forbidden(detail, init);
    case 404:
      return new NotFound(detail, init);
    case 409:
      return new Conflict(detail, init);
    case 422:
      return new ValidationFailed(detail, init);
    case 429:
      return new RateLimited(detail, {
        ...init,
        retryAfter: retryAfterSeconds(headers.get("retry-after")),
      });
  }
  if (status >= 500) return new ServerError(detail, init);
  return new SellerhubError(detail, init);
}

export { retryAfterSeconds };
