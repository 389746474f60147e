/** Framework-free UI: <sellerhub-login>, <sellerhub-credit-purchase>, <sellerhub-subscriptions>.
 * Nothing is registered on import: call defineSellerhubElements() once. Styling: CSS variables
 * (--sellerhub-accent, --sellerhub-accent-text, --sellerhub-text, --sellerhub-muted,
 * --sellerhub-error, --sellerhub-background, --sellerhub-border, --sellerhub-radius,
 * --sellerhub-font, --sellerhub-gap) and ::part(button|list|item|status|error). The styles
 * are a constructable stylesheet (adoptedStyleSheets), which a CSP without 'unsafe-inline'
 * allows; no inline style attribute is ever written. */
import type { CrossAppAuthSDK } from "./auth.js";
import type { CreditSDK, PaymentSDK } from "./credits.js";
import { SellerhubError } from "./errors.js";

const CSS = `
:host { display: block; font: var(--sellerhub-font, inherit); color: var(--sellerhub-text, inherit); }
:host([hidden]) { display: none; }
.box { display: flex; flex-direction: column; gap: var(--sellerhub-gap, .5rem);
  background: var(--sellerhub-background, transparent); }
button { font: inherit; cursor: pointer; padding: .45rem .9rem; border: 0;
  border-radius: var(--sellerhub-radius, 6px); background: var(--sellerhub-accent, #1f5fbf);
  color: var(--sellerhub-accent-text, #fff); }
button[disabled] { opacity: .6; cursor: progress; }
ul { list-style: none; margin: 0; padding: 0; display: grid; gap: var(--sellerhub-gap, .5rem); }
li { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: .5rem;
  border: 1px solid var(--sellerhub-border, #d0d7de); border-radius: var(--sellerhub-radius, 6px); }
.status { color: var(--sellerhub-muted, #57606a); }
.error { color: var(--sellerhub-error, #b42318); }
.error:empty, .status:empty { display: none; }
`;

let sheet: CSSStyleSheet | null = null;

function style(root: ShadowRoot): void {
  const adoptable = "adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype;
  if (adoptable) {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
    }
    root.adoptedStyleSheets = [sheet];
  } else {
    // Old browsers: a <style> element, which a CSP needs 'unsafe-inline' (or a hash) for.
    const el = document.createElement("style");
    el.textContent = CSS;
    root.appendChild(el);
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, part?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (part) {
    node.setAttribute("part", part);
    node.className = part;
  }
  return node;
}

function message(error: unknown): string {
  return error instanceof SellerhubError ? `${error.detail} (${error.code})` : String(error);
}

function price(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

function emit(host: HTMLElement, type: string, detail: unknown): void {
  host.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

/** Register the three elements (idempotent). */
export function defineSellerhubElements(registry: CustomElementRegistry = customElements): void {
  abstract class Base extends HTMLElement {
    protected readonly root: ShadowRoot;
    protected readonly box = el("div");
    protected readonly status = el("p", "", "status");
    protected readonly error = el("p", "", "error");
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      style(this.root);
      this.box.className = "box";
      this.root.append(this.box);
    }
    connectedCallback(): void {
      this.render();
    }
    protected fail(error: unknown): void {
      this.error.textContent = message(error);
      emit(this, "sellerhub-error", error);
    }
    abstract render(): void;
  }

  /** <sellerhub-login>: "Sign in" / "Signed in as … — Sign out". Set `.auth`. Events:
   * sellerhub-signed-in, sellerhub-signed-out, sellerhub-error. */
  class LoginElement extends Base {
    private sdk: CrossAppAuthSDK | null = null;
    private unsubscribe: (() => void) | null = null;
    set auth(sdk: CrossAppAuthSDK) {
      this.unsubscribe?.();
      this.sdk = sdk;
      this.unsubscribe = sdk.onAuthChange(() => this.render());
      this.render();
    }
    get auth(): CrossAppAuthSDK | null {
      return this.sdk;
    }
    disconnectedCallback(): void {
      this.unsubscribe?.();
      this.unsubscribe = null;
    }
    render(): void {
      const sdk = this.sdk;
      this.error.textContent = "";
      const button = el("button", "", "button");
      button.type = "button";
      if (!sdk) {
        this.box.replaceChildren(this.status);
        return;
      }
      if (sdk.isAuthenticated()) {
        button.textContent = this.getAttribute("logout-label") ?? "Sign out";
        this.status.textContent = "Signed in";
        sdk.getCurrentUser().then(
          (user) => {
            if (sdk.isAuthenticated()) this.status.textContent = `Signed in as ${user.email}`;
          },
          () => undefined,
        );
        button.addEventListener("click", () => {
          button.disabled = true;
          sdk.logout().then(
            () => emit(this, "sellerhub-signed-out", null),
            (error: unknown) => this.fail(error),
          );
        });
      } else {
        button.textContent = this.getAttribute("label") ?? "Sign in with sellerhub";
        this.status.textContent = "";
        button.addEventListener("click", () => {
          button.disabled = true;
          sdk.login().then(
            () => emit(this, "sellerhub-signed-in", null),
            (error: unknown) => {
              button.disabled = false;
              this.fail(error);
            },
          );
        });
      }
      this.box.replaceChildren(button, this.status, this.error);
    }
  }

  /** <sellerhub-credit-purchase>: the balance and a Buy button per package. Set `.credits`.
   * Attribute open="popup" opens Checkout in a new window instead of leaving the page. */
  class CreditPurchaseElement extends Base {
    private sdk: CreditSDK | null = null;
    set credits(sdk: CreditSDK) {
      this.sdk = sdk;
      this.render();
    }
    get credits(): CreditSDK | null {
      return this.sdk;
    }
    render(): void {
      const sdk = this.sdk;
      if (!sdk || !this.isConnected) return;
      this.status.textContent = "Loading…";
      this.box.replaceChildren(this.status, this.error);
      sdk.getWallet().then(
        (wallet) => {
          this.status.textContent = `Balance: ${wallet.balance} credits`;
          const list = el("ul", undefined, "list");
          for (const pack of wallet.packages.filter((p) => !p.interval)) {
            const item = el("li", undefined, "item");
            const label = el("span", `${pack.name}: ${pack.credits} credits, ${price(pack.price_minor, pack.currency)}`);
            const buy = el("button", "Buy", "button");
            buy.type = "button";
            buy.dataset["packageId"] = pack.id;
            buy.addEventListener("click", () => {
              buy.disabled = true;
              const open = this.getAttribute("open") === "popup" ? "popup" : "redirect";
              sdk.purchaseCredits(null, pack.id, { open }).then(
                (purchase) => {
                  buy.disabled = false;
                  emit(this, "sellerhub-purchase", purchase);
                },
                (error: unknown) => {
                  buy.disabled = false;
                  this.fail(error);
                },
              );
            });
            item.append(label, buy);
            list.append(item);
          }
          this.box.replaceChildren(this.status, list, this.error);
        },
        (error: unknown) => {
          this.status.textContent = "";
          this.fail(error);
        },
      );
    }
  }

  /** <sellerhub-subscriptions>: the organization's credit subscriptions. Set `.payments`. */
  class SubscriptionsElement extends Base {
    private sdk: PaymentSDK | null = null;
    set payments(sdk: PaymentSDK) {
      this.sdk = sdk;
      this.render();
    }
    get payments(): PaymentSDK | null {
      return this.sdk;
    }
    render(): void {
      const sdk = this.sdk;
      if (!sdk || !this.isConnected) return;
      this.status.textContent = "Loading…";
      this.box.replaceChildren(this.status, this.error);
      sdk.listSubscriptions().then(
        (subscriptions) => {
          this.status.textContent = subscriptions.length ? "" : "No subscriptions";
          const list = el("ul", undefined, "list");
          for (const s of subscriptions) {
            const since = new Date(s.created_at).toLocaleDateString();
            list.append(el("li", `${s.credits} credits per period: ${s.status} since ${since}, ${s.invoices_paid} paid`, "item"));
          }
          this.box.replaceChildren(this.status, list, this.error);
        },
        (error: unknown) => {
          this.status.textContent = "";
          this.fail(error);
        },
      );
    }
  }

  const elements: [string, CustomElementConstructor][] = [
    ["sellerhub-login", LoginElement],
    ["sellerhub-credit-purchase", CreditPurchaseElement],
    ["sellerhub-subscriptions", SubscriptionsElement],
  ];
  for (const [name, constructor] of elements) {
    if (!registry.get(name)) registry.define(name, constructor);
  }
}
