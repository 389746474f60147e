// The example app: every result and error is written into the page in words.
// Query: ?hub=<sellerhub base URL>&app=<app id>[&checkout=redirect|popup][&mode=popup|iframe]
import {
  CrossAppAuthSDK,
  CreditSDK,
  InsufficientCredits,
  SellerhubError,
} from "./sellerhub.js";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const status = (text) => {
  $("status").textContent = text;
};
const showError = (error) => {
  if (error instanceof InsufficientCredits) {
    $("error").textContent = `Not enough credits: ${error.balance ?? 0} available (${error.code})`;
  } else if (error instanceof SellerhubError) {
    $("error").textContent = `${error.name}: ${error.detail} (${error.code})`;
  } else {
    $("error").textContent = `Error: ${error}`;
  }
};

const hub = params.get("hub");
const appId = params.get("app");
if (!hub || !appId) {
  status("Missing ?hub=<sellerhub URL>&app=<app id> in the address");
  throw new Error("missing configuration");
}

const auth = new CrossAppAuthSDK({
  appId,
  domain: hub,
  mode: params.get("mode") === "iframe" ? "iframe" : "popup",
  container: document.body,
});
const credits = new CreditSDK(auth);

async function showUser() {
  try {
    const user = await auth.getCurrentUser();
    $("user").textContent = `Signed in as ${user.email}`;
  } catch (error) {
    $("user").textContent = "Signed in";
    if (!(error instanceof SellerhubError && error.status === 403)) showError(error);
  }
}

auth.onAuthChange((event) => {
  if (event.type === "SIGNED_OUT") {
    status("Signed out");
    $("user").textContent = "";
    $("balance-value").textContent = "";
  } else if (event.type === "SIGNED_IN") {
    status("Signed in");
    showUser();
  }
});

function run(button, action) {
  $(button).addEventListener("click", async () => {
    $("error").textContent = "";
    $(button).disabled = true;
    try {
      await action();
    } catch (error) {
      showError(error);
    } finally {
      $(button).disabled = false;
    }
  });
}

run("login", async () => {
  status("Signing in…");
  try {
    await auth.login();
  } catch (error) {
    status(auth.isAuthenticated() ? "Signed in" : "Not signed in");
    throw error;
  }
});

run("balance", async () => {
  const balance = await credits.getCreditBalance();
  $("balance-value").textContent = `Balance: ${balance} credits`;
  status(`Balance: ${balance} credits`);
});

run("buy", async () => {
  const packages = (await credits.getCreditPackages()).filter((p) => !p.interval);
  if (!packages.length) throw new Error("no package is on sale");
  const pack = packages[0];
  const open = params.get("checkout") === "popup" ? "popup" : "redirect";
  status(`Opening Checkout for ${pack.name} (${pack.credits} credits)…`);
  const purchase = await credits.purchaseCredits(null, pack.id, { open });
  if (open === "popup") status(`Checkout opened for ${pack.name}: ${purchase.checkout_session_id}`);
});

run("consume", async () => {
  const transfer = await credits.consumeCredits(1, "example");
  $("balance-value").textContent = `Balance: ${transfer.balance_after} credits`;
  status(`Consumed 1 credit: balance now ${transfer.balance_after} credits`);
});

run("logout", async () => {
  await auth.logout();
  status("Signed out");
});

const returned = params.get("session_id");
status(returned ? "Back from Checkout: not signed in (tokens live in memory), log in again" : "Not signed in");
