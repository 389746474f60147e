// sellerhub web UI: the little JavaScript the pages need, no framework, loaded from our own origin
// (the pages forbid inline scripts). htmx does partial updates; this file adds:
// forms posted as JSON to the API with errors shown in words, session renewal, sign-out,
// confirmation and error dialogs (never alert()), copy buttons.
"use strict";

(function () {
  const csrfToken = () => {
    const match = document.cookie.match(/(?:^|;\s*)sh_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  };

  // Words for a failed answer: the problem's detail, and when to retry for a 429.
  const describe = async (response) => {
    let detail = "";
    try {
      const body = await response.clone().json();
      if (Array.isArray(body.errors) && body.errors.length) {
        detail = body.errors.map((e) => (e.field ? e.field.replaceAll("_", " ") + ": " : "") + e.message).join(". ");
      } else if (typeof body.detail === "string") {
        detail = body.detail;
      } else if (Array.isArray(body.detail)) {
        detail = body.detail.map((e) => (e.loc ? e.loc[e.loc.length - 1] + ": " : "") + e.msg).join(". ");
      }
    } catch (_) {
      detail = "";
    }
    if (!detail) {
      detail = response.status >= 500
        ? "Something went wrong on our side. Please try again in a moment."
        : "The request could not be completed (" + response.status + ").";
    }
    const retry = Number(response.headers.get("Retry-After"));
    if (response.status === 429 && retry > 0 && !/try again/i.test(detail)) {
      const minutes = Math.ceil(retry / 60);
      detail += retry < 90 ? " Try again in " + retry + " seconds." : " Try again in " + minutes + " minutes.";
    }
    return detail;
  };

  const modal = () => document.getElementById("modal");
  const showModal = (title, text, { confirm = false } = {}) =>
    new Promise((resolve) => {
      const dialog = modal();
      dialog.querySelector("#modal-title").textContent = title;
      dialog.querySelector("#modal-text").textContent = text;
      dialog.querySelector("[data-modal-cancel]").hidden = !confirm;
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      dialog.querySelector("[data-modal-ok]").focus();
    });
  window.sellerhubModal = showModal;

  const remember = (name, value) => { try { sessionStorage.setItem("sellerhub." + name, value); } catch (_) { /* private mode */ } };
  const recall = (name) => { try { return sessionStorage.getItem("sellerhub." + name) || ""; } catch (_) { return ""; } };

  // Forms with data-api-form: POST their fields as JSON to their action (an API route).
  const submitApiForm = async (form) => {
    const errors = form.querySelector("[data-errors]");
    const done = form.querySelector("[data-done-text]");
    for (const input of form.querySelectorAll("[data-copy-from]")) {
      const source = document.getElementById(input.dataset.copyFrom);
      if (source && source.value) input.value = source.value;
    }
    const body = {};
    for (const [key, value] of new FormData(form).entries()) {
      if (value !== "") body[key] = value;
    }
    if (errors) { errors.hidden = true; errors.textContent = ""; }
    if (done) { done.hidden = true; }
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const text = await describe(response);
        if (errors) { errors.textContent = text; errors.hidden = false; } else { await showModal("Something went wrong", text); }
        return;
      }
      if (form.dataset.remember && body[form.dataset.remember]) remember(form.dataset.remember, body[form.dataset.remember]);
      if (form.dataset.done && done) { done.textContent = form.dataset.done; done.hidden = false; }
      if (form.dataset.next !== undefined) window.location.assign(form.dataset.next || "/");
    } catch (_) {
      const text = "sellerhub could not be reached. Check your connection and try again.";
      if (errors) { errors.textContent = text; errors.hidden = false; }
    } finally {
      if (button) button.disabled = false;
    }
  };

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-api-form")) {
      event.preventDefault();
      submitApiForm(form);
    }
  });

  document.addEventListener("click", async (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("[data-logout]")) {
      await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
      window.location.assign("/login");
    }
    const copy = target.closest("[data-copy-target]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copyTarget);
      if (source && navigator.clipboard) {
        await navigator.clipboard.writeText(source.textContent.trim());
        copy.textContent = "Copied";
      }
    }
  });

  // htmx: confirmations in our dialog, failures in words.
  document.addEventListener("htmx:confirm", (event) => {
    const question = event.detail.elt.getAttribute("data-confirm");
    if (!question) return;
    event.preventDefault();
    showModal("Please confirm", question, { confirm: true }).then((ok) => { if (ok) event.detail.issueRequest(true); });
  });
  document.addEventListener("htmx:responseError", async (event) => {
    const xhr = event.detail.xhr;
    const response = new Response(xhr.responseText, { status: xhr.status, headers: { "Retry-After": xhr.getResponseHeader("Retry-After") || "" } });
    await showModal("Something went wrong", await describe(response));
  });
  document.addEventListener("htmx:sendError", () => {
    showModal("Connection problem", "sellerhub could not be reached. Check your connection and try again.");
  });

  const ready = () => {
    for (const input of document.querySelectorAll("[data-recall]")) {
      if (!input.value) input.value = recall(input.dataset.recall);
    }
    // A page whose access token expired: renew the session with the refresh cookie, come back.
    const resume = document.querySelector("[data-resume]");
    if (resume) {
      const next = resume.dataset.next || "/";
      fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } })
        .then((response) => window.location.replace(response.ok ? next : "/login?next=" + encodeURIComponent(next)))
        .catch(() => window.location.replace("/login?next=" + encodeURIComponent(next)));
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else ready();
})();

// --- Inventory import (/inventory/import) ---
// The form with data-import-form sends the chosen File itself as the body of the API's import
// route (the browser streams it from disk; no multipart, no copy in the page), with the
// session's CSRF header and an Idempotency-Key per file chosen, so a second click cannot import
// twice. The answer names the import; its progress and error report are then loaded and polled
// by htmx from /inventory/import/<id>. Refusals (a member, a file too large, a file that cannot
// be read) are shown in words under the form.
(function () {
  const csrf = () => {
    const match = document.cookie.match(/(?:^|;\s*)sh_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  };
  const words = async (response) => {
    try {
      const body = await response.clone().json();
      if (typeof body.detail === "string" && body.detail) return body.detail;
    } catch (_) { /* not JSON */ }
    if (response.status === 413) return "The file is too large to import.";
    return response.status >= 500
      ? "Something went wrong on our side. Please try again in a moment."
      : "The file could not be imported (" + response.status + ").";
  };
  const newKey = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
  const keys = new WeakMap();

  document.addEventListener("change", (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.type === "file" && input.closest("[data-import-form]")) {
      keys.set(input, newKey());
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-import-form")) return;
    event.preventDefault();
    const input = form.querySelector("input[type=file]");
    const errors = form.querySelector("[data-errors]");
    const uploading = form.querySelector("[data-uploading]");
    const button = form.querySelector("[type=submit]");
    const file = input && input.files && input.files[0];
    const fail = (text) => { errors.textContent = text; errors.hidden = false; };
    errors.hidden = true;
    errors.textContent = "";
    if (!file) { fail("Choose a file to import."); return; }
    if (!keys.has(input)) keys.set(input, newKey());
    const partial = form.querySelector("input[name=partial]");
    const json = /\.json$/i.test(file.name) || file.type === "application/json";
    const url = form.getAttribute("action") + "?partial=" + (partial && partial.checked ? "true" : "false");
    button.disabled = true;
    uploading.hidden = false;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": json ? "application/json" : "text/csv",
          "Accept": "application/json",
          "X-CSRF-Token": csrf(),
          "Idempotency-Key": keys.get(input),
        },
        body: file,
      });
      let body = null;
      try { body = await response.clone().json(); } catch (_) { body = null; }
      const id = body && (response.ok ? body.id : (body.import && body.import.id));
      if (!id) { fail(await words(response)); return; }
      window.history.replaceState(null, "", "/inventory/import?import=" + encodeURIComponent(id));
      await htmx.ajax("GET", "/inventory/import/" + encodeURIComponent(id), { target: "#import-progress", swap: "innerHTML" });
      keys.set(input, newKey());  // the next upload is a new import, even of the same file
    } catch (_) {
      fail("sellerhub could not be reached. Check your connection and try again.");
    } finally {
      button.disabled = false;
      uploading.hidden = true;
    }
  });
})();
