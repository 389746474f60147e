// The SDK against a live sellerhub (started by tests/test_sdk_js.py), over real HTTP. Requests
// go as a browser on the app's origin sends them: an Origin header, and a CORS preflight for
// every request that needs one, which must be granted (204 with the origin, method and
// headers allowed) and the answer must carry Access-Control-Allow-Origin.
//   SELLERHUB_URL, SELLERHUB_APP_ID, SELLERHUB_ORIGIN, SELLERHUB_PAIRS (JSON: name -> token
//   pair, each its own sign-in), SELLERHUB_BALANCE (the wallet's credits), SELLERHUB_PACKAGE_ID
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import {
  CreditSDK,
  CrossAppAuthSDK,
  IdempotencyKeyReused,
  InsufficientCredits,
  LoginFailed,
  NotAuthenticated,
  PaymentSDK,
  ValidationFailed,
} from "../build/index.js";
import { call, DEFAULT_RETRY } from "../build/http.js";

const BASE = process.env.SELLERHUB_URL;
const APP_ID = process.env.SELLERHUB_APP_ID;
const ORIGIN = process.env.SELLERHUB_ORIGIN;
const PAIRS = JSON.parse(process.env.SELLERHUB_PAIRS ?? "{}");
const BALANCE = Number(process.env.SELLERHUB_BALANCE);
const PACKAGE_ID = process.env.SELLERHUB_PACKAGE_ID;
assert.ok(BASE && APP_ID && ORIGIN, "run through tests/test_sdk_js.py");

const SAFE_HEADERS = new Set(["accept", "accept-language", "content-language"]);
const SIMPLE_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]);

/** fetch as a browser on ORIGIN would: preflight when the Fetch standard asks for one. */
function browserFetch(log = []) {
  return async (url, init = {}) => {
    const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const method = init.method ?? "GET";
    const unsafe = Object.keys(headers).filter(
      (h) => !SAFE_HEADERS.has(h) && !(h === "content-type" && SIMPLE_TYPES.has(headers[h])),
    );
    if (unsafe.length || !["GET", "HEAD", "POST"].includes(method)) {
      const preflight = await fetch(url, {
        method: "OPTIONS",
        headers: {
          Origin: ORIGIN,
          "Access-Control-Request-Method": method,
          "Access-Control-Request-Headers": unsafe.sort().join(","),
        },
      });
      assert.ok(preflight.ok, `preflight of ${method} ${url} refused: ${preflight.status}`);
      assert.equal(preflight.headers.get("access-control-allow-origin"), ORIGIN);
      const allowed = (preflight.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      for (const h of unsafe) assert.ok(allowed.split(/,\s*/).includes(h), `header ${h} not allowed`);
    }
    const response = await fetch(url, { ...init, headers: { ...init.headers, Origin: ORIGIN } });
    assert.equal(response.headers.get("access-control-allow-origin"), ORIGIN, `CORS of ${url}`);
    log.push([method, new URL(url).pathname, response.status]);
    return response;
  };
}

const created = [];
afterEach(() => {
  for (const auth of created.splice(0)) auth.dispose(); // even after a failure: no timer left
});

function sdk(pairName, options = {}) {
  const auth = new CrossAppAuthSDK({
    appId: APP_ID,
    domain: BASE,
    crossTab: false,
    retry: { backoffMs: 20 },
    env: { fetch: options.fetch ?? browserFetch(), ...(options.env ?? {}) },
    ...(options.config ?? {}),
  });
  created.push(auth);
  if (pairName) auth.setSession(PAIRS[pairName]);
  return auth;
}

describe("credits", () => {
  it("reads the balance and packages, checks, consumes, maps 402 and a reused key", async () => {
    const auth = sdk("credits");
    const credits = new CreditSDK(auth);
    assert.equal(await credits.getCreditBalance(), BALANCE);
    const packages = await credits.getCreditPackages();
    assert.ok(packages.some((p) => p.id === PACKAGE_ID), JSON.stringify(packages));
    assert.equal(await credits.hasSufficientCredits(BALANCE), true);
    assert.equal(await credits.hasSufficientCredits(BALANCE + 1), false);

    const spent = await credits.consumeCredits(2, "ocr", { idempotencyKey: "js-job-1", metadata: { page: 1 } });
    assert.equal(spent.balance_after, BALANCE - 2);
    assert.equal(spent.app_id, APP_ID);
    const again = await credits.consumeCredits(2, "ocr", { idempotencyKey: "js-job-1", metadata: { page: 1 } });
    assert.equal(again.id, spent.id, "the same key answers the same transfer");
    await assert.rejects(credits.consumeCredits(3, "ocr", { idempotencyKey: "js-job-1" }), IdempotencyKeyReused);
    await assert.rejects(credits.consumeCredits(0, "ocr"), (e) => e instanceof ValidationFailed && e.errors.some((x) => x.field === "amount"));
    await assert.rejects(credits.consumeCredits(BALANCE, "ocr"), (error) => {
      assert.ok(error instanceof InsufficientCredits, String(error));
      assert.equal(error.status, 402);
      assert.equal(error.code, "insufficient-credits");
      assert.equal(error.balance, BALANCE - 2);
      return true;
    });
    assert.equal(await credits.getCreditBalance(), BALANCE - 2);
    auth.dispose();
  });

  it("a consume whose answer is lost is retried with its key and spends once", async () => {
    const auth0 = sdk("credits");
    const before = await new CreditSDK(auth0).getCreditBalance();
    const inner = browserFetch();
    let dropped = 0;
    const keys = [];
    const lossy = async (url, init) => {
      const response = await inner(url, init);
      if (new URL(url).pathname.endsWith("/credits/consume")) {
        keys.push(JSON.parse(init.body).idempotency_key);
        if (dropped++ === 0) throw new TypeError("connection reset after the server answered");
      }
      return response;
    };
    const auth = sdk("credits", { fetch: lossy });
    const transfer = await new CreditSDK(auth).consumeCredits(1, "ocr");
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], "the retry carried the first attempt's key");
    assert.equal(transfer.balance_after, before - 1);
    assert.equal(await new CreditSDK(auth).getCreditBalance(), before - 1, "spent once");
    auth.dispose();
    auth0.dispose();
  });

  it("opens a Checkout session for a package (and PaymentSDK reads it from a back end)", async () => {
    const auth = sdk("credits");
    const navigations = [];
    const credits = new CreditSDK(auth, { assign: (u) => navigations.push(u), open: () => undefined });
    const purchase = await credits.purchaseCredits(null, PACKAGE_ID);
    assert.match(purchase.url, /^https?:\/\//);
    assert.deepEqual(navigations, [purchase.url]);
    // /api/v1/credits/* is not open to other origins: a back end (no Origin) reads it.
    const server = sdk("credits", { fetch: (url, init) => fetch(url, init) });
    const state = await new PaymentSDK(server).getPurchaseStatus(purchase.checkout_session_id);
    assert.equal(state.checkout_session_id, purchase.checkout_session_id);
    assert.equal(state.status, "open");
    assert.ok(Array.isArray(await new PaymentSDK(server).listSubscriptions()));
    auth.dispose();
    server.dispose();
  });
});

describe("identity", () => {
  it("reads the user once per sign-in", async () => {
    const log = [];
    const auth = sdk("user", { fetch: browserFetch(log) });
    const user = await auth.getCurrentUser();
    assert.equal(user.email, process.env.SELLERHUB_EMAIL);
    assert.ok(user.perms.includes("credits:consume"));
    await auth.getCurrentUser();
    assert.equal(log.filter(([, path]) => path === "/api/cross-app/user-info").length, 1);
    auth.dispose();
  });

  it("refuses a bogus authorization code with LoginFailed (invalid_grant)", async () => {
    await assert.rejects(
      call({ fetch: browserFetch(), sleep: async () => undefined, random: Math.random }, DEFAULT_RETRY, `${BASE}/oauth/token`, {
        form: { grant_type: "authorization_code", code: "x".repeat(43), code_verifier: "y".repeat(43), client_id: APP_ID },
        retry: "never",
      }),
      (error) => error instanceof LoginFailed && error.code === "invalid_grant" && error.status === 400,
    );
  });
});

describe("refresh and sign-out", () => {
  it("rotates the pair; the old refresh token presented again revokes the sign-in", async () => {
    const auth = sdk("refresh");
    const events = [];
    auth.onAuthChange((e) => events.push(e.type));
    const before = await auth.getAccessToken();
    await auth.refreshToken();
    const after = await auth.getAccessToken();
    assert.notEqual(after, before);
    assert.equal(typeof (await new CreditSDK(auth).getCreditBalance()), "number", "the new token works");

    const stale = sdk("refresh"); // another client still holding the first pair
    await assert.rejects(stale.refreshToken(), (e) => e instanceof NotAuthenticated && e.code === "refresh-token-reused");
    assert.equal(stale.isAuthenticated(), false);
    await assert.rejects(auth.refreshToken(), NotAuthenticated, "the whole sign-in is revoked");
    assert.equal(auth.isAuthenticated(), false);
    assert.deepEqual(events, ["TOKEN_REFRESHED", "SIGNED_OUT"]);
    auth.dispose();
    stale.dispose();
  });

  it("logout revokes the sign-in at sellerhub and forgets the tokens", async () => {
    const log = [];
    const auth = sdk("logout", { fetch: browserFetch(log) });
    await auth.logout();
    assert.equal(auth.isAuthenticated(), false);
    assert.deepEqual(log.at(-1), ["POST", "/api/cross-app/logout", 204]);
    const copy = sdk("logout");
    await assert.rejects(copy.refreshToken(), NotAuthenticated);
    const again = sdk("logout");
    await assert.rejects(new CreditSDK(again).getCreditBalance(), NotAuthenticated, "its access token too");
    const log2 = [];
    const twice = sdk("logout", { fetch: browserFetch(log2) });
    await twice.logout(); // idempotent
    assert.deepEqual(log2, [["POST", "/api/cross-app/logout", 204]]);
    copy.dispose();
    again.dispose();
    twice.dispose();
    auth.dispose();
  });
});
