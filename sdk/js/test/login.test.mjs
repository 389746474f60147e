// The embedded login's window layer (protocol v1 steps 1, 2, 5, 6) with a fake window.
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { afterEach, describe, it } from "node:test";
import {
  CrossAppAuthSDK,
  LoginFailed,
  LoginTimeout,
  PopupBlocked,
  PopupClosed,
  codeChallenge,
  newAttempt,
} from "../build/index.js";
import { awaitCode, loginUrl } from "../build/login.js";
import { APP_ORIGIN, FakeWindow, HUB, env, jsonResponse, pair, recordEvents, tick, clearTimers } from "./fakes.mjs";

afterEach(clearTimers);

const B64URL = /^[A-Za-z0-9_-]{43}$/;

function request(overrides = {}) {
  return {
    domain: HUB,
    appId: "demo",
    nonce: "n".repeat(43),
    challenge: "c".repeat(43),
    mode: "popup",
    timeoutMs: 500,
    pollMs: 10,
    ...overrides,
  };
}

function message(popup, data, origin = HUB) {
  return { origin, source: popup, data: { type: "sellerhub:auth", v: 1, ...data } };
}

describe("PKCE and nonce", () => {
  it("makes a 43-character verifier and nonce and the S256 challenge of the verifier", async () => {
    const attempt = await newAttempt(webcrypto);
    assert.match(attempt.verifier, B64URL);
    assert.match(attempt.nonce, B64URL);
    assert.match(attempt.challenge, B64URL);
    assert.notEqual(attempt.verifier, attempt.nonce);
    const expected = createHash("sha256").update(attempt.verifier, "ascii").digest("base64url");
    assert.equal(attempt.challenge, expected);
    const again = await newAttempt(webcrypto);
    assert.notEqual(again.verifier, attempt.verifier);
    assert.notEqual(again.nonce, attempt.nonce);
  });

  it("is base64url(SHA-256(ascii(verifier))) without padding, as another implementation says", async () => {
    const verifier = "Ab-_0123456789abcdefghijklmnopqrstuvwxyzABC";
    const challenge = await codeChallenge(verifier, webcrypto);
    assert.equal(challenge, createHash("sha256").update(verifier, "ascii").digest("base64url"));
    assert.match(challenge, B64URL);
  });

  it("names the app, the page's origin, the nonce, the challenge, S256 and the mode", () => {
    const url = new URL(loginUrl(request(), APP_ORIGIN));
    assert.equal(url.origin + url.pathname, `${HUB}/embed/login`);
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      app_id: "demo",
      origin: APP_ORIGIN,
      nonce: "n".repeat(43),
      code_challenge: "c".repeat(43),
      code_challenge_method: "S256",
      mode: "popup",
    });
  });
});

describe("postMessage layer", () => {
  it("opens the popup by name and accepts only the exact origin, window, type, version and nonce", async () => {
    const win = new FakeWindow();
    const pending = awaitCode(win, request());
    const popup = win.popups[0];
    assert.equal(popup.name, "sellerhub-login");
    assert.match(popup.features, /width=480,height=640/);
    const nonce = "n".repeat(43);
    win.dispatch(message(popup, { nonce, code: "evil-origin" }, "https://evil.example.com"));
    win.dispatch(message(popup, { nonce, code: "sub-origin" }, "https://hub.example.com.evil.io"));
    win.dispatch(message(popup, { nonce: "other", code: "wrong-nonce" }));
    win.dispatch(message({}, { nonce, code: "wrong-source" }));
    win.dispatch(message(null, { nonce, code: "no-source" }));
    win.dispatch({ origin: HUB, source: popup, data: { type: "other", v: 1, nonce, code: "type" } });
    win.dispatch({ origin: HUB, source: popup, data: { type: "sellerhub:auth", v: 2, nonce, code: "v2" } });
    win.dispatch({ origin: HUB, source: popup, data: "a string" });
    win.dispatch(message(popup, { nonce, code: "the-code" }));
    assert.equal(await pending, "the-code");
    assert.equal(win.listeners.size, 0, "the listener is removed");
  });

  it("rejects with PopupBlocked when window.open returns null", async () => {
    const win = new FakeWindow({ block: true });
    await assert.rejects(awaitCode(win, request()), PopupBlocked);
    assert.equal(win.listeners.size, 0);
  });

  it("rejects with PopupClosed when the popup closes before a valid message", async () => {
    const win = new FakeWindow();
    const pending = awaitCode(win, request({ timeoutMs: 5000 }));
    win.dispatch(message(win.popups[0], { nonce: "wrong", code: "x" }));
    win.popups[0].closed = true;
    await assert.rejects(pending, (error) => error instanceof PopupClosed && error.code === "popup-closed");
    assert.equal(win.listeners.size, 0);
  });

  it("takes a valid message that arrives just as the popup closes itself", async () => {
    const win = new FakeWindow();
    const pending = awaitCode(win, request({ pollMs: 20 }));
    const popup = win.popups[0];
    popup.closed = true; // it posted, then closed: the message is still queued
    await tick(25);
    win.dispatch(message(popup, { nonce: "n".repeat(43), code: "late" }));
    assert.equal(await pending, "late");
  });

  it("rejects with LoginTimeout when nothing valid arrives in time, and closes the popup", async () => {
    const win = new FakeWindow();
    const started = Date.now();
    await assert.rejects(awaitCode(win, request({ timeoutMs: 80 })), LoginTimeout);
    assert.ok(Date.now() - started >= 70);
    assert.equal(win.popups[0].closed, true);
  });

  it("rejects with LoginFailed carrying the error and its description", async () => {
    const win = new FakeWindow();
    const pending = awaitCode(win, request());
    win.dispatch(
      message(win.popups[0], { nonce: "n".repeat(43), error: "access_denied", error_description: "the user cancelled" }),
    );
    await assert.rejects(pending, (error) => {
      assert.ok(error instanceof LoginFailed);
      assert.equal(error.code, "access_denied");
      assert.equal(error.detail, "the user cancelled");
      return true;
    });
  });
});

describe("iframe mode", () => {
  function fakeDocument() {
    const frames = [];
    return {
      frames,
      createElement(tag) {
        assert.equal(tag, "iframe");
        const frame = { contentWindow: { frame: true }, isConnected: false, remove() { this.isConnected = false; } };
        frames.push(frame);
        return frame;
      },
    };
  }

  it("puts the login in an iframe in the container, takes only the frame's messages, removes it", async () => {
    const win = new FakeWindow();
    win.document = fakeDocument();
    const container = { appendChild(frame) { frame.isConnected = true; } };
    const pending = awaitCode(win, request({ mode: "iframe", container }));
    const frame = win.document.frames[0];
    assert.equal(new URL(frame.src).searchParams.get("mode"), "iframe");
    assert.equal(win.popups.length, 0, "no popup");
    const nonce = "n".repeat(43);
    win.dispatch(message({ other: true }, { nonce, code: "other-window" }));
    win.dispatch(message(frame.contentWindow, { nonce, code: "from-frame" }));
    assert.equal(await pending, "from-frame");
    assert.equal(frame.isConnected, false, "the iframe is removed");
  });

  it("fails without a container, and with PopupClosed when the iframe is removed", async () => {
    const win = new FakeWindow();
    win.document = fakeDocument();
    await assert.rejects(awaitCode(win, request({ mode: "iframe" })), (e) => e instanceof LoginFailed && e.code === "no-container");
    const container = { appendChild(frame) { frame.isConnected = true; } };
    const pending = awaitCode(win, request({ mode: "iframe", container, timeoutMs: 5000 }));
    win.document.frames.at(-1).remove();
    await assert.rejects(pending, PopupClosed);
  });
});

describe("CrossAppAuthSDK.login", () => {
  it("exchanges the code with its verifier at /oauth/token and signs in", async () => {
    const win = new FakeWindow();
    const calls = [];
    const fetch = async (url, init) => {
      calls.push({ url, init });
      return jsonResponse(200, pair(1));
    };
    const sdk = new CrossAppAuthSDK({ appId: "demo", domain: `${HUB}/some/path`, env: env({ window: win, fetch }) });
    const events = recordEvents(sdk);
    const pending = sdk.login();
    assert.equal(sdk.login(), pending, "one login at a time");
    while (!win.popups.length) await tick(1);
    const url = win.popups[0].url;
    assert.equal(url.searchParams.get("origin"), APP_ORIGIN);
    win.dispatch(message(win.popups[0], { nonce: url.searchParams.get("nonce"), code: "abc" }));
    await pending;
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, `${HUB}/oauth/token`);
    assert.equal(calls[0].init.headers["Content-Type"], "application/x-www-form-urlencoded");
    assert.equal(calls[0].init.credentials, "omit");
    const form = new URLSearchParams(calls[0].init.body);
    assert.equal(form.get("grant_type"), "authorization_code");
    assert.equal(form.get("code"), "abc");
    assert.equal(form.get("client_id"), "demo");
    const challenge = createHash("sha256").update(form.get("code_verifier")).digest("base64url");
    assert.equal(challenge, url.searchParams.get("code_challenge"));
    assert.ok(sdk.isAuthenticated());
    assert.equal(await sdk.getAccessToken(), "access-1");
    assert.deepEqual(events.map((e) => [e.type, e.fromOtherTab]), [["SIGNED_IN", false]]);
    sdk.dispose();
  });

  it("maps a refused exchange (invalid_grant) to LoginFailed and stays signed out", async () => {
    const win = new FakeWindow();
    const fetch = async () => jsonResponse(400, { error: "invalid_grant", error_description: "the code was used" });
    const sdk = new CrossAppAuthSDK({ appId: "demo", domain: HUB, env: env({ window: win, fetch }) });
    const pending = sdk.login();
    while (!win.popups.length) await tick(1);
    win.dispatch(message(win.popups[0], { nonce: win.popups[0].url.searchParams.get("nonce"), code: "abc" }));
    await assert.rejects(pending, (error) => error instanceof LoginFailed && error.code === "invalid_grant" && error.status === 400);
    assert.equal(sdk.isAuthenticated(), false);
    sdk.dispose();
  });
});
