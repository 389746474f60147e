// Refresh: single flight in a tab, coordinated across simulated tabs (a fake BroadcastChannel),
// a sign-out racing it, retries, automatic refresh, and sign-in/out seen by other tabs.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { CrossAppAuthSDK, NetworkError, NotAuthenticated } from "../build/index.js";
import { ChannelHub, HUB, RefreshServer, env, jsonResponse, pair, recordEvents, tick, clearTimers } from "./fakes.mjs";

afterEach(clearTimers);

function tab(server, hub, extra = {}) {
  const sleeps = [];
  const sdk = new CrossAppAuthSDK({
    appId: "demo",
    domain: HUB,
    claimWindowMs: 15,
    peerRefreshWaitMs: 2000,
    env: env({
      fetch: server.fetch(),
      channel: hub?.factory(),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...extra.env,
    }),
    ...extra.config,
  });
  sdk.sleeps = sleeps;
  return sdk;
}

async function until(condition, ms = 1000) {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await tick(2);
  }
}

describe("refresh in one tab", () => {
  it("is single flight: concurrent callers share one request", async () => {
    const server = new RefreshServer({ latencyMs: 20 });
    const sdk = tab(server, null);
    sdk.setSession(pair(0));
    const events = recordEvents(sdk);
    await Promise.all([sdk.refreshToken(), sdk.refreshToken(), sdk.refreshToken()]);
    assert.deepEqual(server.refreshCalls, ["refresh-0"]);
    assert.equal(await sdk.getAccessToken(), "access-1");
    assert.deepEqual(events.map((e) => e.type), ["TOKEN_REFRESHED"]);
    await sdk.refreshToken();
    assert.deepEqual(server.refreshCalls, ["refresh-0", "refresh-1"]);
    sdk.dispose();
  });

  it("a sign-out racing a refresh wins: the refresh's answer writes no tokens", async () => {
    const server = new RefreshServer({ latencyMs: 40 });
    const sdk = tab(server, null);
    sdk.setSession(pair(0));
    const events = recordEvents(sdk);
    const refreshing = sdk.refreshToken();
    await tick(10); // the refresh request is at the server
    await sdk.logout();
    await assert.rejects(refreshing, NotAuthenticated);
    assert.equal(server.refreshCalls.length, 1, "the refresh reached the server");
    assert.equal(sdk.isAuthenticated(), false);
    await assert.rejects(sdk.getAccessToken(), NotAuthenticated);
    assert.deepEqual(events.map((e) => e.type), ["SIGNED_OUT"]);
    assert.deepEqual(server.logoutCalls, [{ app_id: "demo", refresh_token: "refresh-0" }]);
    sdk.dispose();
  });

  it("logout clears memory even when sellerhub cannot be reached", async () => {
    const sdk = new CrossAppAuthSDK({
      appId: "demo",
      domain: HUB,
      retry: { maxRetries: 1 },
      env: env({ fetch: async () => { throw new TypeError("fetch failed"); } }),
    });
    sdk.setSession(pair(0));
    await assert.rejects(sdk.logout(), NetworkError);
    assert.equal(sdk.isAuthenticated(), false);
    sdk.dispose();
  });

  it("retries network errors, 5xx and 429 (after Retry-After) and keeps the same refresh token", async () => {
    const answers = [
      () => { throw new TypeError("fetch failed"); },
      () => jsonResponse(503, { status: 503, code: "unavailable", detail: "db" }),
      () => jsonResponse(429, { status: 429, code: "rate-limited", detail: "slow" }, { "retry-after": "2" }),
      () => jsonResponse(200, pair(1)),
    ];
    const presented = [];
    const server = {
      fetch: () => async (url, init) => {
        presented.push(JSON.parse(init.body).refresh_token);
        return answers.shift()();
      },
    };
    const sdk = tab(server, null);
    sdk.setSession(pair(0));
    await sdk.refreshToken();
    assert.deepEqual(presented, ["refresh-0", "refresh-0", "refresh-0", "refresh-0"]);
    assert.equal(sdk.sleeps.length, 3);
    assert.equal(sdk.sleeps[2], 2000, "Retry-After: 2 is honoured");
    assert.equal(await sdk.getAccessToken(), "access-1");
    sdk.dispose();
  });

  it("a reused refresh token (401 refresh-token-reused) signs the tab out", async () => {
    const server = new RefreshServer();
    server.used.add("refresh-0");
    const sdk = tab(server, null);
    sdk.setSession(pair(0));
    const events = recordEvents(sdk);
    await assert.rejects(sdk.refreshToken(), (e) => e instanceof NotAuthenticated && e.code === "refresh-token-reused");
    assert.equal(sdk.isAuthenticated(), false);
    assert.deepEqual(events.map((e) => e.type), ["SIGNED_OUT"]);
    sdk.dispose();
  });

  it("refreshes by itself shortly before the access token expires", async () => {
    const server = new RefreshServer({ expiresIn: 1 });
    const sdk = tab(server, null, { config: { refreshMarginMs: 60_000 } });
    const events = recordEvents(sdk);
    sdk.setSession(pair(0, { expiresIn: 1 }));
    await until(() => server.refreshCalls.length >= 1, 1500);
    assert.equal(events.at(-1).type, "SIGNED_IN");
    await until(() => events.some((e) => e.type === "TOKEN_REFRESHED"));
    sdk.dispose();
  });

  it("getAccessToken refreshes an access token about to expire", async () => {
    const server = new RefreshServer();
    const sdk = tab(server, null);
    sdk.setSession(pair(0, { expiresIn: 20 })); // within the 30 s skew
    assert.equal(await sdk.getAccessToken(), "access-1");
    sdk.dispose();
  });
});

describe("refresh across tabs", () => {
  it("two tabs refreshing at once present the refresh token once and share the new pair", async () => {
    const server = new RefreshServer({ latencyMs: 20 });
    const hub = new ChannelHub();
    const a = tab(server, hub);
    const b = tab(server, hub);
    a.setSession(pair(0));
    await until(() => b.isAuthenticated());
    const eventsA = recordEvents(a);
    const eventsB = recordEvents(b);
    await Promise.all([a.refreshToken(), b.refreshToken()]);
    assert.deepEqual(server.refreshCalls, ["refresh-0"]);
    assert.equal(await a.getAccessToken(), "access-1");
    assert.equal(await b.getAccessToken(), "access-1");
    const types = [...eventsA, ...eventsB].map((e) => [e.type, e.fromOtherTab]).sort();
    assert.deepEqual(types, [["TOKEN_REFRESHED", false], ["TOKEN_REFRESHED", true]]);
    a.dispose();
    b.dispose();
  });

  it("never presents the same refresh token twice: four tabs, many rounds, no reuse", async () => {
    const server = new RefreshServer({ latencyMs: 3 });
    const hub = new ChannelHub();
    const tabs = [0, 1, 2, 3].map(() => tab(server, hub));
    tabs[0].setSession(pair(0));
    await until(() => tabs.every((t) => t.isAuthenticated()));
    for (let round = 0; round < 8; round++) {
      await Promise.all(tabs.map((t, i) => tick(i % 2).then(() => t.refreshToken())));
    }
    assert.equal(server.revoked, false, "no reuse revoked the sign-in");
    assert.equal(server.maxConcurrentSameToken, 1);
    assert.equal(new Set(server.refreshCalls).size, server.refreshCalls.length);
    const tokens = await Promise.all(tabs.map((t) => t.getAccessToken()));
    assert.equal(new Set(tokens).size, 1, "every tab holds the newest pair");
    for (const t of tabs) t.dispose();
  });

  it("a tab whose peer claimed the refresh and vanished waits a bounded time, then refreshes itself", async () => {
    const server = new RefreshServer();
    const hub = new ChannelHub();
    const a = tab(server, hub, { config: { peerRefreshWaitMs: 100 } });
    a.setSession(pair(0));
    const ghost = hub.factory()(`sellerhub-sdk:${HUB}:demo`);
    await tick(5);
    const sessionId = hub.sent.find((m) => m.t === "session").session.id;
    ghost.postMessage({ t: "claim", from: "0", id: sessionId }); // "0" wins every tie-break
    await tick(5);
    const started = Date.now();
    await a.refreshToken();
    assert.ok(Date.now() - started >= 80, "it waited for the peer first");
    assert.deepEqual(server.refreshCalls, ["refresh-0"]);
    a.dispose();
    ghost.close();
  });

  it("a sign-in, a refresh failure and a sign-out in one tab reach the others", async () => {
    const server = new RefreshServer();
    const hub = new ChannelHub();
    const a = tab(server, hub);
    const b = tab(server, hub);
    const eventsB = recordEvents(b);
    a.setSession(pair(0));
    await until(() => b.isAuthenticated());
    await a.logout();
    await until(() => !b.isAuthenticated());
    assert.deepEqual(eventsB.map((e) => [e.type, e.fromOtherTab]), [["SIGNED_IN", true], ["SIGNED_OUT", true]]);
    a.dispose();
    b.dispose();
  });

  it("a new tab receives the session of an open one", async () => {
    const server = new RefreshServer();
    const hub = new ChannelHub();
    const a = tab(server, hub);
    a.setSession(pair(0));
    const late = tab(server, hub);
    await until(() => late.isAuthenticated());
    assert.equal(await late.getAccessToken(), "access-0");
    a.dispose();
    late.dispose();
  });

  it("a refresh finishing in one tab after another tab signed out does not sign it back in", async () => {
    const server = new RefreshServer({ latencyMs: 40 });
    const hub = new ChannelHub();
    const a = tab(server, hub);
    const b = tab(server, hub);
    a.setSession(pair(0));
    await until(() => b.isAuthenticated());
    const refreshing = a.refreshToken().catch((e) => e);
    await tick(25); // a's request is at the server
    await b.logout();
    const outcome = await refreshing;
    assert.ok(outcome instanceof NotAuthenticated, String(outcome));
    await tick(20);
    assert.equal(a.isAuthenticated(), false);
    assert.equal(b.isAuthenticated(), false);
    a.dispose();
    b.dispose();
  });
});
