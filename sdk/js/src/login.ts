/** The embedded login's window layer (protocol v1, steps 2 and 5): open sellerhub's
 * /embed/login in a popup or an iframe and wait for the one message that is this attempt's. */
import { LoginFailed, LoginTimeout, PopupBlocked, PopupClosed } from "./errors.js";

export interface LoginWindow {
  readonly closed?: boolean;
  close(): void;
}

export interface MessageEventLike {
  origin: string;
  source: unknown;
  data: unknown;
}

/** What the login needs of `window` (a fake in tests). */
export interface WindowLike {
  location: { origin: string };
  open(url: string, name: string, features: string): LoginWindow | null;
  addEventListener(type: "message", listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEventLike) => void): void;
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  setInterval(handler: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
  document?: Document;
}

export interface LoginRequest {
  domain: string;
  appId: string;
  nonce: string;
  challenge: string;
  mode: "popup" | "iframe";
  container?: HTMLElement | undefined;
  timeoutMs: number;
  /** How often the popup is checked for being closed (default 500 ms). */
  pollMs?: number;
}

export function loginUrl(request: LoginRequest, origin: string): string {
  const url = new URL("/embed/login", request.domain);
  url.search = new URLSearchParams({
    app_id: request.appId,
    origin,
    nonce: request.nonce,
    code_challenge: request.challenge,
    code_challenge_method: "S256",
    mode: request.mode,
  }).toString();
  return url.toString();
}

const POPUP_FEATURES = "popup=yes,width=480,height=640";

/** Resolve with the authorization code, or reject with PopupBlocked, PopupClosed, LoginTimeout
 * or LoginFailed. Messages of another origin, source, type, version or nonce are ignored. */
export function awaitCode(win: WindowLike, request: LoginRequest): Promise<string> {
  const expectedOrigin = new URL(request.domain).origin;
  const url = loginUrl(request, win.location.origin);
  let target: LoginWindow | null;
  let source: unknown;
  let frame: HTMLIFrameElement | undefined;
  if (request.mode === "iframe") {
    const doc = win.document;
    const container = request.container;
    if (!doc || !container) {
      return Promise.reject(new LoginFailed("iframe mode needs a container element", { code: "no-container" }));
    }
    frame = doc.createElement("iframe");
    frame.src = url;
    frame.title = "Sign in with sellerhub";
    frame.className = "sellerhub-login-frame";
    container.appendChild(frame);
    source = frame.contentWindow;
    target = { close: () => frame?.remove(), get closed() { return !frame?.isConnected; } };
  } else {
    target = win.open(url, "sellerhub-login", POPUP_FEATURES);
    if (!target) {
      return Promise.reject(
        new PopupBlocked("the browser blocked the login popup: call login() from a click", {
          code: "popup-blocked",
        }),
      );
    }
    source = target;
  }
  const opened = target;
  return new Promise<string>((resolve, reject) => {
    let done = false;
    const finish = (error: Error | null, code?: string): void => {
      if (done) return;
      done = true;
      win.removeEventListener("message", onMessage);
      win.clearTimeout(timer);
      win.clearInterval(poll);
      if (frame || error) {
        try {
          opened.close();
        } catch {
          /* already gone */
        }
      }
      if (error) reject(error);
      else resolve(code as string);
    };
    const onMessage = (event: MessageEventLike): void => {
      if (event.origin !== expectedOrigin) return;
      const expectedSource = frame ? frame.contentWindow : source;
      if (event.source !== expectedSource || event.source == null) return;
      const data = event.data as Record<string, unknown> | null;
      if (!data || typeof data !== "object") return;
      if (data["type"] !== "sellerhub:auth" || data["v"] !== 1 || data["nonce"] !== request.nonce) return;
      if (typeof data["error"] === "string") {
        const description =
          typeof data["error_description"] === "string" ? data["error_description"] : data["error"];
        finish(new LoginFailed(description, { code: data["error"] }));
      } else if (typeof data["code"] === "string" && data["code"]) {
        finish(null, data["code"]);
      }
    };
    win.addEventListener("message", onMessage);
    const timer = win.setTimeout(
      () => finish(new LoginTimeout(`no answer from sellerhub within ${request.timeoutMs} ms`, { code: "login-timeout" })),
      request.timeoutMs,
    );
    // A window seen closed gets one more tick: its last message may still be queued.
    let closedSeen = false;
    const poll = win.setInterval(() => {
      if (!opened.closed) return;
      if (closedSeen) {
        finish(new PopupClosed("the login window was closed before signing in", { code: "popup-closed" }));
      }
      closedSeen = true;
    }, request.pollMs ?? 500);
  });
}
