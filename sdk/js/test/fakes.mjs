// Small fakes of the browser for the unit tests: window (open, message events, timers), a
// BroadcastChannel hub shared by simulated tabs, fetch, and a refresh-token server.
import { webcrypto } from "node:crypto";

export const HUB = "https://hub.example.com";
export const APP_ORIGIN = "https://app.example.com";

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

export class FakePopup {
  constructor(url) {
    this.url = new URL(url);
    this.closed = false;
  }
  close() {
    this.closed = true;
  }
}

export class FakeWindow {
  constructor({ block = false } = {}) {
    this.location = { origin: APP_ORIGIN };
    this.block = block;
    this.listeners = new Set();
    this.popups = [];
  }
  open(url, name, features) {
    if (this.block) return null;
    const popup = new FakePopup(url);
    popup.name = name;
    popup.features = features;
    this.popups.push(popup);
    return popup;
  }
  addEventListener(type, listener) {
    if (type === "message") this.listeners.add(listener);
  }
  removeEventListener(type, listener) {
    if (type === "message") this.listeners.delete(listener);
  }
  /** What a postMessage to this window delivers. */
  dispatch(event) {
    for (const listener of [...this.listeners]) listener(event);
  }
  setTimeout(handler, ms) {
    return setTimeout(handler, ms);
  }
  clearTimeout(id) {
    clearTimeout(id);
  }
  setInterval(handler, ms) {
    return setInterval(handler, ms);
  }
  clearInterval(id) {
    clearInterval(id);
  }
}

/** BroadcastChannel semantics: a message reaches every other channel of the same name, later,
 * as a structured clone. */
export class ChannelHub {
  constructor() {
    this.channels = new Set();
    this.sent = [];
  }
  factory() {
    return (name) => {
      const hub = this;
      const channel = {
        name,
        onmessage: null,
        closed: false,
        postMessage(message) {
          if (channel.closed) throw new Error("closed");
          hub.sent.push(message);
          const data = structuredClone(message);
          for (const other of hub.channels) {
            if (other !== channel && other.name === name) {
              setTimeout(() => !other.closed && other.onmessage?.({ data }), 1);
            }
          }
        },
        close() {
          channel.closed = true;
          hub.channels.delete(channel);
        },
      };
      hub.channels.add(channel);
      return channel;
    };
  }
}

export function jsonResponse(status, body, headers = {}) {
  const type = status >= 400 && body && body.code ? "application/problem+json" : "application/json";
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": type, ...headers },
  });
}

export function pair(n, { expiresIn = 900, refreshExpiresIn = 86400 } = {}) {
  return {
    access_token: `access-${n}`,
    refresh_token: `refresh-${n}`,
    expires_in: expiresIn,
    refresh_expires_in: refreshExpiresIn,
    permissions: ["profile:read", "credits:read", "credits:consume"],
    app_id: "demo",
    token_type: "Bearer",
  };
}

/** A sellerhub that rotates refresh tokens and revokes the family on reuse, as the server does. */
export class RefreshServer {
  constructor({ latencyMs = 5, expiresIn = 900 } = {}) {
    this.latencyMs = latencyMs;
    this.expiresIn = expiresIn;
    this.next = 1;
    this.live = new Set(["refresh-0"]);
    this.used = new Set();
    this.revoked = false;
    this.refreshCalls = [];
    this.logoutCalls = [];
    this.concurrent = 0;
    this.maxConcurrentSameToken = 0;
    this.presenting = new Map();
  }
  fetch() {
    return async (url, init) => {
      const path = new URL(url).pathname;
      const body = init?.body ? JSON.parse(init.body) : undefined;
      if (path === "/api/cross-app/refresh-token") {
        this.refreshCalls.push(body.refresh_token);
        const n = (this.presenting.get(body.refresh_token) ?? 0) + 1;
        this.presenting.set(body.refresh_token, n);
        this.maxConcurrentSameToken = Math.max(this.maxConcurrentSameToken, n);
        // Decided on arrival (as a transaction would), answered after the latency.
        let answer;
        if (this.used.has(body.refresh_token)) {
          this.revoked = true;
          this.live.clear();
          answer = jsonResponse(401, { status: 401, code: "refresh-token-reused", detail: "reused" });
        } else if (this.revoked || !this.live.has(body.refresh_token)) {
          answer = jsonResponse(401, { status: 401, code: "invalid-refresh-token", detail: "unknown" });
        } else {
          this.live.delete(body.refresh_token);
          this.used.add(body.refresh_token);
          const issued = pair(this.next++, { expiresIn: this.expiresIn });
          this.live.add(issued.refresh_token);
          answer = jsonResponse(200, issued);
        }
        await tick(this.latencyMs);
        this.presenting.set(body.refresh_token, n - 1);
        return answer;
      }
      if (path === "/api/cross-app/logout") {
        this.logoutCalls.push(body);
        this.revoked = true;
        return new Response(null, { status: 204 });
      }
      return jsonResponse(404, { status: 404, code: "not-found", detail: path });
    };
  }
}

// The SDKs' timers (refresh schedules, claim windows, peer waits), cleared after each test so a
// failed test leaves nothing that keeps the runner alive.
const timers = new Set();
export function clearTimers() {
  for (const id of timers) clearTimeout(id);
  timers.clear();
}

export function env(overrides = {}) {
  return {
    crypto: webcrypto,
    setTimeout(handler, ms) {
      const id = setTimeout(() => {
        timers.delete(id);
        handler();
      }, ms);
      timers.add(id);
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
      clearTimeout(id);
    },
    sleeps: undefined,
    sleep: async () => undefined,
    random: () => 0.5,
    window: undefined,
    channel: undefined,
    ...overrides,
  };
}

export function recordEvents(sdk) {
  const events = [];
  sdk.onAuthChange((event) => events.push(event));
  return events;
}
