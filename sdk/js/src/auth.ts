/** CrossAppAuthSDK: the embedded login, the app token pair in memory, its refresh (single
 * flight in the tab, coordinated across the origin's tabs over BroadcastChannel without locks)
 * and sign-out. */
import { LoginFailed, NotAuthenticated, SellerhubError } from "./errors.js";
import { call, DEFAULT_RETRY, defaultSleep, type CallOptions, type Env, type FetchLike, type RetryPolicy } from "./http.js";
import { awaitCode, type WindowLike } from "./login.js";
import { newAttempt, randomToken } from "./pkce.js";
import type { TokenPair, UserInfo } from "./types.js";

export type AuthEventType = "SIGNED_IN" | "TOKEN_REFRESHED" | "SIGNED_OUT";

export interface AuthEvent {
  type: AuthEventType;
  /** True when another tab of this origin signed in, refreshed or signed out. */
  fromOtherTab: boolean;
  authenticated: boolean;
  /** When the access token expires (ms since the epoch), when signed in. */
  expiresAt: number | undefined;
  permissions: string[];
}

export type AuthListener = (event: AuthEvent) => void;

export interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

export interface AuthConfig {
  /** The app's id as registered at sellerhub (a browser app whose allowed_origins list this page's origin). */
  appId: string;
  /** sellerhub's base URL, e.g. "https://hub.example.com". */
  domain: string;
  /** Where purchases return to by default (one of the app's registered redirect URLs). */
  redirectUrl?: string;
  /** How login() shows sellerhub's page (default "popup"). */
  mode?: "popup" | "iframe";
  /** The element the iframe goes into (iframe mode). */
  container?: HTMLElement;
  /** How long login() waits for an answer (default 120 000 ms). */
  timeoutMs?: number;
  /** Refresh this long before the access token expires (default 60 000 ms, at most half its life). */
  refreshMarginMs?: number;
  /** How long a tab waits for another tab's refresh before trying itself (default 20 000 ms). */
  peerRefreshWaitMs?: number;
  /** How long a tab listens for competing refresh claims before refreshing (default 50 ms). */
  claimWindowMs?: number;
  /** Coordinate with other tabs (default true when BroadcastChannel exists). */
  crossTab?: boolean;
  retry?: Partial<RetryPolicy>;
  /** Replace the platform (tests, or a custom fetch). */
  env?: Partial<AuthEnv>;
}

export interface AuthEnv extends Env {
  window: WindowLike | undefined;
  crypto: Crypto;
  now(): number;
  channel: ((name: string) => ChannelLike) | undefined;
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

interface Session {
  /** This pair's id, and the sign-in's (kept across refreshes). */
  id: string;
  lineage: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  refreshExpiresAt: number;
  permissions: string[];
}

type PeerMessage =
  | { t: "hello"; from: string }
  | { t: "session"; from: string; session: Session; reason: "signed_in" | "refreshed" | "sync" }
  | { t: "claim"; from: string; id: string }
  | { t: "refresh_failed"; from: string; id: string; fatal: boolean }
  | { t: "signed_out"; from: string; lineage: string | undefined };

interface Claim {
  from: string;
  until: number;
}

function defaultEnv(): AuthEnv {
  const g = globalThis as unknown as {
    window?: WindowLike;
    BroadcastChannel?: new (name: string) => ChannelLike;
  };
  const Channel = g.BroadcastChannel;
  return {
    fetch: ((input: string, init?: RequestInit) => globalThis.fetch(input, init)) as FetchLike,
    sleep: defaultSleep,
    random: Math.random,
    window: g.window,
    crypto: globalThis.crypto,
    now: Date.now,
    channel: Channel ? (name: string) => new Channel(name) : undefined,
    setTimeout: (handler, ms) => setTimeout(handler, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
}

export class CrossAppAuthSDK {
  readonly appId: string;
  readonly domain: string;
  readonly redirectUrl: string | undefined;
  /** @internal */ readonly env: AuthEnv;
  /** @internal */ readonly retry: RetryPolicy;
  private readonly config: AuthConfig;
  private readonly tabId: string;
  private session: Session | null = null;
  /** Bumped by every sign-in and sign-out here: a refresh started under another epoch writes nothing. */
  private epoch = 0;
  private readonly tombstones = new Set<string>();
  private readonly listeners = new Set<AuthListener>();
  private inflight: Promise<void> | null = null;
  private loginInflight: Promise<void> | null = null;
  private userCache: Promise<UserInfo> | null = null;
  private timer: unknown;
  private channel: ChannelLike | null = null;
  private readonly claims = new Map<string, Claim>();
  private readonly peerWaiters = new Set<(message: PeerMessage | null) => void>();
  private disposed = false;

  constructor(config: AuthConfig) {
    if (!config?.appId) throw new TypeError("appId is required");
    if (!config.domain) throw new TypeError("domain is required");
    this.config = config;
    this.appId = config.appId;
    this.domain = new URL(config.domain).origin;
    this.redirectUrl = config.redirectUrl;
    this.env = { ...defaultEnv(), ...config.env };
    this.retry = { ...DEFAULT_RETRY, ...config.retry };
    this.tabId = randomToken(this.env.crypto).slice(0, 16);
    if (config.crossTab !== false && this.env.channel) {
      this.channel = this.env.channel(`sellerhub-sdk:${this.domain}:${this.appId}`);
      this.channel.onmessage = (event) => this.onPeer(event.data as PeerMessage);
      this.post({ t: "hello", from: this.tabId });
    }
  }

  // --- state ---------------------------------------------------------------------------------

  /** Signed in: a pair whose refresh token has not expired. */
  isAuthenticated(): boolean {
    return this.session !== null && this.session.refreshExpiresAt > this.env.now();
  }

  /** The permissions of the current token ([] when signed out). */
  get permissions(): string[] {
    return this.session ? [...this.session.permissions] : [];
  }

  /** Calls `listener` on sign-in, refresh and sign-out, here and in the origin's other tabs.
   * Returns the function that unsubscribes it. */
  onAuthChange(listener: AuthListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** A valid access token: refreshed first when it expires within 30 s. NotAuthenticated when
   * signed out. */
  async getAccessToken(): Promise<string> {
    const session = this.session;
    if (!session) throw new NotAuthenticated("not signed in", { status: 401, code: "not-signed-in" });
    if (session.expiresAt - 30_000 > this.env.now()) return session.accessToken;
    await this.refreshToken();
    if (!this.session) throw new NotAuthenticated("signed out", { status: 401, code: "not-signed-in" });
    return this.session.accessToken;
  }

  /** Adopt a pair your page got from its own back end (POST /api/cross-app/auth): kept in
   * memory only, shared with the origin's other tabs. */
  setSession(pair: TokenPair): void {
    this.adopt(pair, undefined);
  }

  /** The signed-in user's claims (GET /api/cross-app/user-info, needs profile:read), fetched
   * once per sign-in. */
  getCurrentUser(): Promise<UserInfo> {
    if (!this.userCache) {
      const epoch = this.epoch;
      const pending = this.request<UserInfo>("/api/cross-app/user-info");
      this.userCache = pending;
      pending.catch(() => {
        if (this.userCache === pending && this.epoch === epoch) this.userCache = null;
      });
    }
    return this.userCache;
  }

  // --- login ---------------------------------------------------------------------------------

  /** Open sellerhub's sign-in (popup or iframe), exchange the code for a token pair. Call it
   * from a click handler (browsers block other popups). */
  login(): Promise<void> {
    if (!this.loginInflight) {
      this.loginInflight = this.doLogin().finally(() => {
        this.loginInflight = null;
      });
    }
    return this.loginInflight;
  }

  private async doLogin(): Promise<void> {
    const win = this.env.window;
    if (!win) throw new LoginFailed("login() needs a browser window", { code: "no-window" });
    const attempt = await newAttempt(this.env.crypto);
    const code = await awaitCode(win, {
      domain: this.domain,
      appId: this.appId,
      nonce: attempt.nonce,
      challenge: attempt.challenge,
      mode: this.config.mode ?? "popup",
      container: this.config.container,
      timeoutMs: this.config.timeoutMs ?? 120_000,
    });
    const pair = await call<TokenPair>(this.env, this.retry, `${this.domain}/oauth/token`, {
      form: {
        grant_type: "authorization_code",
        code,
        code_verifier: attempt.verifier,
        client_id: this.appId,
      },
      retry: "never", // a code is single-use: a second presentation revokes the sign-in
    });
    this.adopt(pair, undefined);
  }

  // --- sign-out ------------------------------------------------------------------------------

  /** Sign out: forget the tokens here and in the origin's other tabs at once, then revoke the
   * sign-in at sellerhub (POST /api/cross-app/logout). Memory is cleared even when that call
   * fails; the error is thrown after. */
  async logout(): Promise<void> {
    const session = this.session;
    this.clear(false);
    this.post({ t: "signed_out", from: this.tabId, lineage: session?.lineage });
    if (!session) return;
    await call<void>(this.env, this.retry, `${this.domain}/api/cross-app/logout`, {
      json: { app_id: this.appId, refresh_token: session.refreshToken },
      retry: "safe", // idempotent: a repeated sign-out answers 204
    });
  }

  /** Stop timers and the cross-tab channel, drop listeners; nothing in flight writes tokens
   * afterwards. Does not sign out at sellerhub. */
  dispose(): void {
    this.disposed = true;
    this.epoch++;
    this.stopTimer();
    this.listeners.clear();
    for (const wake of this.peerWaiters) wake(null);
    this.peerWaiters.clear();
    if (this.channel) {
      this.channel.onmessage = null;
      this.channel.close();
      this.channel = null;
    }
    this.session = null;
    this.userCache = null;
  }

  // --- refresh -------------------------------------------------------------------------------

  /** Rotate the pair now. One refresh at a time in this tab (callers share it) and, across the
   * origin's tabs, one tab presents a refresh token while the others wait for its result. A
   * sign-out while it runs wins: its answer is dropped. NotAuthenticated when signed out or
   * when sellerhub refused the refresh token (its sign-in is then over everywhere). */
  refreshToken(): Promise<void> {
    if (!this.inflight) {
      this.inflight = this.doRefresh().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async doRefresh(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const session = this.session;
      if (!session) throw new NotAuthenticated("not signed in", { status: 401, code: "not-signed-in" });
      const epoch = this.epoch;
      if (this.channel) {
        const outcome = await this.coordinate(session);
        if (this.epoch !== epoch || this.session?.id !== session.id) {
          // Another tab refreshed (adopted), or this tab signed out meanwhile.
          if (!this.session) throw new NotAuthenticated("signed out", { status: 401, code: "not-signed-in" });
          return;
        }
        if (outcome === "retry") continue; // the other tab failed harmlessly or went away
      }
      try {
        const pair = await call<TokenPair>(this.env, this.retry, `${this.domain}/api/cross-app/refresh-token`, {
          json: { app_id: this.appId, refresh_token: session.refreshToken },
          retry: "safe",
        });
        if (this.epoch !== epoch || this.session?.id !== session.id || this.disposed) {
          throw new NotAuthenticated("signed out while refreshing", { status: 401, code: "not-signed-in" });
        }
        this.install(pair, session.lineage, "TOKEN_REFRESHED");
        this.claims.delete(session.id);
        return;
      } catch (error) {
        this.claims.delete(session.id);
        const fatal = error instanceof NotAuthenticated || (error instanceof SellerhubError && error.status === 403);
        if (this.epoch === epoch) {
          this.post({ t: "refresh_failed", from: this.tabId, id: session.id, fatal });
          if (fatal && this.session?.id === session.id) {
            this.clear(false);
            this.post({ t: "signed_out", from: this.tabId, lineage: session.lineage });
          }
        }
        throw error;
      }
    }
    throw new NotAuthenticated("the refresh did not settle", { status: 401, code: "refresh-unsettled" });
  }

  /** Lock-free, bounded coordination: wait for a tab already refreshing this pair; otherwise
   * claim it, listen `claimWindowMs` for competing claims (the smaller tab id wins), and go. */
  private async coordinate(session: Session): Promise<"go" | "retry" | "adopted"> {
    const waitMs = this.config.peerRefreshWaitMs ?? 20_000;
    const existing = this.claims.get(session.id);
    if (existing && existing.until > this.env.now()) {
      return this.waitForPeer(session, existing.until - this.env.now());
    }
    this.post({ t: "claim", from: this.tabId, id: session.id });
    this.claims.set(session.id, { from: this.tabId, until: this.env.now() + waitMs });
    await new Promise<void>((resolve) => this.env.setTimeout(resolve, this.config.claimWindowMs ?? 50));
    const winner = this.claims.get(session.id);
    if (this.session?.id !== session.id) return "adopted";
    if (winner && winner.from !== this.tabId) {
      return this.waitForPeer(session, Math.max(0, winner.until - this.env.now()));
    }
    return "go";
  }

  private waitForPeer(session: Session, ms: number): Promise<"retry" | "adopted"> {
    return new Promise((resolve) => {
      const wake = (message: PeerMessage | null): void => {
        if (message === null) {
          cleanup();
          resolve("retry");
          return;
        }
        if (this.session?.id !== session.id) {
          cleanup();
          resolve("adopted");
        } else if (message.t === "refresh_failed" && message.id === session.id) {
          cleanup();
          resolve("retry");
        }
      };
      const timer = this.env.setTimeout(() => {
        this.claims.delete(session.id);
        cleanup();
        resolve("retry");
      }, ms);
      const cleanup = (): void => {
        this.env.clearTimeout(timer);
        this.peerWaiters.delete(wake);
      };
      this.peerWaiters.add(wake);
    });
  }

  // --- other tabs ----------------------------------------------------------------------------

  private post(message: PeerMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      /* a closed channel: nothing to tell */
    }
  }

  private onPeer(message: PeerMessage): void {
    if (!message || typeof message !== "object" || message.from === this.tabId || this.disposed) return;
    switch (message.t) {
      case "hello":
        if (this.session && this.isAuthenticated()) {
          this.post({ t: "session", from: this.tabId, session: this.session, reason: "sync" });
        }
        break;
      case "claim": {
        const current = this.claims.get(message.id);
        // Ours and theirs compete: the smaller tab id wins, everywhere the same.
        if (!current || current.until <= this.env.now() || message.from < current.from) {
          this.claims.set(message.id, {
            from: message.from,
            until: this.env.now() + (this.config.peerRefreshWaitMs ?? 20_000),
          });
        }
        break;
      }
      case "session": {
        const incoming = message.session;
        if (!incoming || this.tombstones.has(incoming.lineage)) break;
        if (this.session?.id === incoming.id) break;
        if (message.reason === "sync" && this.session) break;
        this.claims.delete(this.session?.id ?? "");
        const type: AuthEventType =
          this.session && this.session.lineage === incoming.lineage ? "TOKEN_REFRESHED" : "SIGNED_IN";
        if (type === "SIGNED_IN") this.userCache = null;
        this.session = { ...incoming };
        this.schedule();
        this.emit(type, true);
        break;
      }
      case "refresh_failed":
        this.claims.delete(message.id);
        if (message.fatal && this.session?.id === message.id) this.clear(true);
        break;
      case "signed_out":
        if (message.lineage) this.tombstones.add(message.lineage);
        if (this.session && (!message.lineage || this.session.lineage === message.lineage)) this.clear(true);
        break;
    }
    for (const wake of [...this.peerWaiters]) wake(message);
  }

  // --- internals -----------------------------------------------------------------------------

  private adopt(pair: TokenPair, lineage: string | undefined): void {
    this.epoch++;
    this.userCache = null;
    this.install(pair, lineage, "SIGNED_IN");
  }

  private install(pair: TokenPair, lineage: string | undefined, type: AuthEventType): void {
    if (!pair || typeof pair.access_token !== "string" || typeof pair.refresh_token !== "string") {
      throw new LoginFailed("sellerhub answered no token pair", { code: "invalid-token-pair" });
    }
    const now = this.env.now();
    const session: Session = {
      id: randomToken(this.env.crypto).slice(0, 22),
      lineage: lineage ?? randomToken(this.env.crypto).slice(0, 22),
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      expiresAt: now + pair.expires_in * 1000,
      refreshExpiresAt: now + pair.refresh_expires_in * 1000,
      permissions: [...(pair.permissions ?? [])],
    };
    this.tombstones.delete(session.lineage);
    this.session = session;
    this.schedule();
    this.post({
      t: "session",
      from: this.tabId,
      session,
      reason: type === "SIGNED_IN" ? "signed_in" : "refreshed",
    });
    this.emit(type, false);
  }

  private clear(fromOtherTab: boolean): void {
    const had = this.session !== null;
    if (this.session) this.tombstones.add(this.session.lineage);
    this.epoch++;
    this.session = null;
    this.userCache = null;
    this.stopTimer();
    if (had) this.emit("SIGNED_OUT", fromOtherTab);
  }

  private schedule(): void {
    this.stopTimer();
    const session = this.session;
    if (!session || this.disposed) return;
    const life = session.expiresAt - this.env.now();
    const margin = Math.min(this.config.refreshMarginMs ?? 60_000, life / 2);
    const jitter = this.env.random() * Math.min(2000, margin / 4);
    const delay = Math.max(0, life - margin - jitter);
    this.timer = this.env.setTimeout(() => {
      this.timer = undefined;
      if (this.session?.id === session.id) this.refreshToken().catch(() => undefined);
    }, delay);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.env.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private emit(type: AuthEventType, fromOtherTab: boolean): void {
    const event: AuthEvent = {
      type,
      fromOtherTab,
      authenticated: this.isAuthenticated(),
      expiresAt: this.session?.expiresAt,
      permissions: this.permissions,
    };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        /* a listener's error is its own */
      }
    }
  }

  /** An authenticated call to sellerhub (the CreditSDK and PaymentSDK use it): the access
   * token refreshed first when due, and once more when sellerhub says it is no longer valid. */
  async request<T>(path: string, options: CallOptions = {}): Promise<T> {
    const token = await this.getAccessToken();
    try {
      return await call<T>(this.env, this.retry, this.domain + path, { ...options, token });
    } catch (error) {
      if (!(error instanceof NotAuthenticated) || !this.session) throw error;
      if (this.session.accessToken === token) await this.refreshToken();
      return call<T>(this.env, this.retry, this.domain + path, {
        ...options,
        token: await this.getAccessToken(),
      });
    }
  }
}
