// Error mapping from problem+json and OAuth errors; the credit calls: the idempotency key made
// per call and sent again on its retries, purchases, the 401-then-refresh path.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import {
  BadRequest,
  Conflict,
  CreditSDK,
  CrossAppAuthSDK,
  Forbidden,
  IdempotencyKeyReused,
  InsufficientCredits,
  LoginFailed,
  NetworkError,
  NotAuthenticated,
  NotFound,
  PaymentSDK,
  RateLimited,
  SellerhubError,
  ServerError,
  ValidationFailed,
  errorFromResponse,
} from "../build/index.js";
import { HUB, env, jsonResponse, pair, clearTimers } from "./fakes.mjs";

afterEach(clearTimers);

const headers = (values = {}) => new Headers(values);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("error mapping", () => {
  const cases = [
    [402, { code: "insufficient-credits", detail: "short", balance: 7 }, InsufficientCredits],
    [401, { code: "invalid-app-token", detail: "expired" }, NotAuthenticated],
    [401, { code: "refresh-token-reused", detail: "reused" }, NotAuthenticated],
    [403, { code: "origin-not-allowed", detail: "origin" }, Forbidden],
    [403, { code: "app-permission-missing", detail: "perm" }, Forbidden],
    [404, { code: "not-found", detail: "none" }, NotFound],
    [409, { code: "idempotency-key-reused", detail: "key" }, IdempotencyKeyReused],
    [409, { code: "hold-resolved", detail: "x" }, Conflict],
    [422, { code: "validation-failed", detail: "bad", errors: [{ field: "amount", message: "must be >= 1" }] }, ValidationFailed],
    [400, { error: "invalid_request", error_description: "code missing" }, BadRequest],
    [400, { error: "invalid_grant", error_description: "used" }, LoginFailed],
    [500, { code: "internal", detail: "boom" }, ServerError],
    [418, undefined, SellerhubError],
  ];
  for (const [status, body, type] of cases) {
    it(`${status} ${body?.code ?? body?.error ?? "(no body)"} -> ${type.name}`, () => {
      const error = errorFromResponse(status, body, headers({ "x-request-id": "rq-1" }));
      assert.ok(error instanceof type, error.constructor.name);
      assert.ok(error instanceof SellerhubError);
      assert.equal(error.status, status);
      assert.equal(error.code, body?.code ?? body?.error ?? `http-${status}`);
      assert.equal(error.requestId, "rq-1");
      assert.equal(error.name, type.name);
    });
  }

  it("keeps the balance of a 402, the field errors of a 422, the Retry-After of a 429", () => {
    assert.equal(errorFromResponse(402, { code: "insufficient-credits", balance: 7 }, headers()).balance, 7);
    const invalid = errorFromResponse(422, { code: "validation-failed", errors: [{ field: "amount", message: "m" }] }, headers());
    assert.deepEqual(invalid.errors, [{ field: "amount", message: "m" }]);
    const limited = errorFromResponse(429, { code: "rate-limited" }, headers({ "retry-after": "7" }));
    assert.ok(limited instanceof RateLimited);
    assert.equal(limited.retryAfter, 7);
    assert.equal(errorFromResponse(429, undefined, headers()).retryAfter, undefined);
  });
});

function signedIn(fetch, options = {}) {
  const sdk = new CrossAppAuthSDK({ appId: "demo", domain: HUB, env: env({ fetch }), ...options });
  sdk.setSession(pair(0));
  return sdk;
}

describe("CreditSDK", () => {
  it("sends one idempotency key per consume and the same key on its retries", async () => {
    const bodies = [];
    const answers = [
      () => { throw new TypeError("connection reset"); },
      () => jsonResponse(503, { code: "unavailable", detail: "db" }),
      (body) => jsonResponse(201, { id: "t1", amount: body.amount, balance_after: 9, idempotency_key: body.idempotency_key }),
      (body) => jsonResponse(201, { id: "t2", amount: body.amount, balance_after: 8, idempotency_key: body.idempotency_key }),
    ];
    const auth = signedIn(async (url, init) => {
      assert.equal(new URL(url).pathname, "/api/cross-app/credits/consume");
      assert.equal(init.headers.Authorization, "Bearer access-0");
      const body = JSON.parse(init.body);
      bodies.push(body);
      return answers.shift()(body);
    });
    const credits = new CreditSDK(auth);
    const first = await credits.consumeCredits(1, "ocr");
    assert.equal(first.balance_after, 9);
    assert.equal(bodies.length, 3);
    assert.match(bodies[0].idempotency_key, UUID);
    assert.deepEqual(new Set(bodies.map((b) => b.idempotency_key)).size, 1, "the key is reused on retries");
    await credits.consumeCredits(1, "ocr");
    assert.notEqual(bodies[3].idempotency_key, bodies[0].idempotency_key, "a new call, a new key");
    auth.dispose();
  });

  it("uses the caller's key and metadata, and maps 402 to InsufficientCredits with the balance", async () => {
    let seen;
    const auth = signedIn(async (url, init) => {
      seen = JSON.parse(init.body);
      return jsonResponse(402, { status: 402, code: "insufficient-credits", detail: "too few", balance: 2 });
    });
    await assert.rejects(
      new CreditSDK(auth).consumeCredits(5, "ocr", { idempotencyKey: "job-7", metadata: { page: 1 } }),
      (error) => error instanceof InsufficientCredits && error.balance === 2 && error.status === 402,
    );
    assert.deepEqual(seen, { amount: 5, service: "ocr", idempotency_key: "job-7", metadata: { page: 1 } });
    auth.dispose();
  });

  it("reads the balance, the packages and a credit check", async () => {
    const wallet = { balance: 12, packages: [{ id: "p1", name: "Small", credits: 100, price_minor: 900, currency: "EUR", active: true }] };
    const auth = signedIn(async (url, init) => {
      const path = new URL(url).pathname;
      if (path === "/api/cross-app/credits") return jsonResponse(200, wallet);
      if (path === "/api/cross-app/credit-check") {
        const { required } = JSON.parse(init.body);
        return jsonResponse(200, { sufficient: required <= 12, balance: 12 });
      }
      return jsonResponse(404, { code: "not-found" });
    });
    const credits = new CreditSDK(auth);
    assert.equal(await credits.getCreditBalance(), 12);
    assert.deepEqual(await credits.getCreditPackages(), wallet.packages);
    assert.equal(await credits.hasSufficientCredits(12), true);
    assert.equal(await credits.hasSufficientCredits(13), false);
    auth.dispose();
  });

  it("purchases: redirects to Checkout by default, opens a popup on request, never retries a lost answer", async () => {
    const sent = [];
    let fail = false;
    const auth = signedIn(
      async (url, init) => {
        sent.push(JSON.parse(init.body));
        if (fail) throw new TypeError("connection reset");
        return jsonResponse(201, { purchase_id: "pu1", checkout_session_id: "cs_1", url: "https://checkout.example/cs_1" });
      },
      { redirectUrl: "https://app.example.com/bought" },
    );
    const navigations = [];
    const credits = new CreditSDK(auth, { assign: (u) => navigations.push(["assign", u]), open: (u) => navigations.push(["open", u]) });
    const purchase = await credits.purchaseCredits(null, "p1");
    assert.equal(purchase.checkout_session_id, "cs_1");
    assert.deepEqual(sent[0], { package_id: "p1", success_url: "https://app.example.com/bought" });
    await credits.purchaseCredits(500, undefined, { open: "popup", cancelUrl: "https://app.example.com/c" });
    assert.deepEqual(sent[1], { amount: 500, success_url: "https://app.example.com/bought", cancel_url: "https://app.example.com/c" });
    assert.deepEqual(navigations, [["assign", "https://checkout.example/cs_1"], ["open", "https://checkout.example/cs_1"]]);
    fail = true;
    await assert.rejects(credits.purchaseCredits(null, "p1"), NetworkError);
    assert.equal(sent.length, 3, "a purchase whose answer was lost is not sent again");
    auth.dispose();
  });

  it("refreshes once and repeats the call when sellerhub refuses the access token", async () => {
    const calls = [];
    const auth = signedIn(async (url, init) => {
      const path = new URL(url).pathname;
      calls.push([path, init.headers.Authorization ?? JSON.parse(init.body).refresh_token]);
      if (path === "/api/cross-app/refresh-token") return jsonResponse(200, pair(1));
      if (init.headers.Authorization === "Bearer access-0") {
        return jsonResponse(401, { status: 401, code: "invalid-app-token", detail: "revoked key" });
      }
      return jsonResponse(200, { balance: 3, packages: [] });
    });
    assert.equal(await new CreditSDK(auth).getCreditBalance(), 3);
    assert.deepEqual(calls, [
      ["/api/cross-app/credits", "Bearer access-0"],
      ["/api/cross-app/refresh-token", "refresh-0"],
      ["/api/cross-app/credits", "Bearer access-1"],
    ]);
    auth.dispose();
  });

  it("throws NotAuthenticated without a request when signed out", async () => {
    let called = false;
    const auth = new CrossAppAuthSDK({ appId: "demo", domain: HUB, env: env({ fetch: async () => { called = true; } }) });
    await assert.rejects(new CreditSDK(auth).getCreditBalance(), NotAuthenticated);
    assert.equal(called, false);
  });
});

describe("PaymentSDK and the user", () => {
  it("reads a purchase's state, the subscriptions and the cached user info", async () => {
    const paths = [];
    const auth = signedIn(async (url) => {
      const u = new URL(url);
      paths.push(u.pathname + u.search);
      if (u.pathname.startsWith("/api/v1/credits/purchases/")) return jsonResponse(200, { status: "paid", credits: 100 });
      if (u.pathname === "/api/v1/credits/subscriptions") return jsonResponse(200, []);
      return jsonResponse(200, { sub: "u1", email: "a@example.com" });
    });
    const payments = new PaymentSDK(auth);
    assert.equal((await payments.getPurchaseStatus("cs_1/x", { fulfil: true })).status, "paid");
    assert.deepEqual(await payments.listSubscriptions(), []);
    assert.equal((await auth.getCurrentUser()).email, "a@example.com");
    await auth.getCurrentUser();
    assert.deepEqual(paths, [
      "/api/v1/credits/purchases/cs_1%2Fx?fulfil=true",
      "/api/v1/credits/subscriptions",
      "/api/cross-app/user-info",
    ]);
    auth.dispose();
  });

  it("keeps tokens out of storage: the bundle touches no localStorage, sessionStorage, cookie or indexedDB", () => {
    const bundle = readFileSync(new URL("../dist/sellerhub.js", import.meta.url), "utf8");
    for (const word of ["localStorage", "sessionStorage", "cookie", "indexedDB"]) {
      assert.equal(bundle.includes(word), false, word);
    }
  });
});
