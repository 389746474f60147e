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
