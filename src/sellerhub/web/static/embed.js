// sellerhub embedded login (/embed/login): tells the app's page the outcome by postMessage.
// The page carries the message in data-* attributes (no inline script); the target origin is
// always the app's registered origin, checked by the server, never "*".
"use strict";

(function () {
  const target = () => {
    if (window.opener && window.opener !== window) return window.opener;
    if (window.parent && window.parent !== window) return window.parent;
    return null;
  };
  const popup = () => document.body.dataset.embedMode === "popup";

  const send = (origin, message) => {
    const to = target();
    if (!to || !origin) return false;
    to.postMessage(Object.assign({ type: "sellerhub:auth", v: 1 }, message), origin);
    return true;
  };

  const finish = (sent) => {
    // In a popup, close once the app has its answer (the words stay if it cannot close).
    if (sent && popup()) window.setTimeout(() => window.close(), 300);
  };

  const post = () => {
    const node = document.getElementById("embed-message");
    if (!node) return;
    const data = node.dataset;
    const message = { nonce: data.nonce || "" };
    if (data.code) {
      message.code = data.code;
    } else {
      message.error = data.error || "invalid_request";
      message.error_description = data.errorDescription || "";
    }
    finish(send(data.origin, message));
  };

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-embed-cancel]") : null;
    if (!button) return;
    event.preventDefault();
    const sent = send(button.dataset.origin, {
      nonce: button.dataset.nonce || "",
      error: "access_denied",
      error_description: "the user cancelled the sign-in",
    });
    const section = button.closest("section");
    if (section) section.textContent = "Sign-in cancelled. You can close this window.";
    finish(sent);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", post);
  else post();
})();
