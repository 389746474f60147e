// The Web Components with stand-in SDK objects, for tests/web/test_sdk_js_components.py.
import { defineSellerhubElements } from "./sellerhub.js";

defineSellerhubElements();
defineSellerhubElements(); // idempotent

const listeners = new Set();
let signedIn = false;
const notify = (type) => {
  for (const listener of listeners) listener({ type, authenticated: signedIn, fromOtherTab: false });
};
const auth = {
  isAuthenticated: () => signedIn,
  onAuthChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  getCurrentUser: async () => ({ email: "ada@example.com" }),
  async login() {
    signedIn = true;
    notify("SIGNED_IN");
  },
  async logout() {
    signedIn = false;
    notify("SIGNED_OUT");
  },
};
const purchases = [];
const credits = {
  getWallet: async () => ({
    balance: 12,
    packages: [
      { id: "p1", name: "Small", credits: 100, price_minor: 900, currency: "EUR", active: true, interval: null },
      { id: "p2", name: "Monthly", credits: 500, price_minor: 2900, currency: "EUR", active: true, interval: "month" },
    ],
  }),
  async purchaseCredits(amount, packageId, options) {
    purchases.push([amount, packageId, options.open]);
    if (purchases.length > 1) throw new Error("Checkout is closed today");
    return { url: "https://checkout.example/cs_1", checkout_session_id: "cs_1" };
  },
};
const payments = {
  listSubscriptions: async () => [
    { id: "s1", package_id: "p2", credits: 500, status: "active", created_at: "2026-11-01T00:00:00Z", invoices_paid: 2 },
  ],
};

const events = [];
for (const type of ["sellerhub-signed-in", "sellerhub-signed-out", "sellerhub-purchase", "sellerhub-error"]) {
  document.addEventListener(type, () => {
    events.push(type);
    document.getElementById("events").textContent = events.join(" ");
  });
}
document.querySelector("sellerhub-login").auth = auth;
document.querySelector("sellerhub-credit-purchase").credits = credits;
document.querySelector("sellerhub-subscriptions").payments = payments;
window.purchases = purchases;
