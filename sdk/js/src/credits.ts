/** CreditSDK and PaymentSDK: the credit and billing routes an app token may call. */
import type { CrossAppAuthSDK } from "./auth.js";
import type {
  CreditBalance,
  CreditCheck,
  CreditPackage,
  Purchase,
  PurchaseStatus,
  Subscription,
  Transfer,
} from "./types.js";

export interface ConsumeOptions {
  /** Makes the consume safe to repeat: the same key answers the transfer made the first time.
   * Default: a new UUID per call, reused on that call's retries. */
  idempotencyKey?: string;
  /** Kept with the transfer (JSON, at most 4 KiB). */
  metadata?: Record<string, unknown>;
}

export interface PurchaseOptions {
  /** "redirect" (default): location.assign(checkout URL); "popup": open Checkout in a new
   * window; "none": just answer the Checkout session. */
  open?: "redirect" | "popup" | "none";
  /** One of the app's registered redirect URLs (default: the first one registered, or the
   * SDK's redirectUrl). */
  successUrl?: string;
  cancelUrl?: string;
}

export interface Navigator {
  assign(url: string): void;
  open(url: string): unknown;
}

function browserNavigator(): Navigator {
  const g = globalThis as unknown as {
    location?: { assign(url: string): void };
    open?: (url: string, target?: string) => unknown;
  };
  return {
    assign: (url) => g.location?.assign(url),
    open: (url) => g.open?.(url, "_blank"),
  };
}

function newKey(auth: CrossAppAuthSDK): string {
  const c = auth.env.crypto as Crypto & { randomUUID?: () => string };
  return typeof c.randomUUID === "function" ? c.randomUUID() : `sdk-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class CreditSDK {
  constructor(
    private readonly auth: CrossAppAuthSDK,
    private readonly navigator: Navigator = browserNavigator(),
  ) {}

  /** The available credits (GET /api/cross-app/credits; needs credits:read). */
  async getCreditBalance(): Promise<number> {
    return (await this.getWallet()).balance;
  }

  /** The balance and the packages on sale in one call. */
  getWallet(): Promise<CreditBalance> {
    return this.auth.request<CreditBalance>("/api/cross-app/credits");
  }

  /** The packages on sale (id, name, credits, price_minor, currency, interval). */
  async getCreditPackages(): Promise<CreditPackage[]> {
    return (await this.getWallet()).packages;
  }

  /** Whether `required` credits are available (POST /api/cross-app/credit-check). */
  async hasSufficientCredits(required: number): Promise<boolean> {
    return (await this.checkCredits(required)).sufficient;
  }

  checkCredits(required: number): Promise<CreditCheck> {
    return this.auth.request<CreditCheck>("/api/cross-app/credit-check", {
      json: { required },
      retry: "safe",
    });
  }

  /** Spend `amount` credits on `service` (needs credits:consume). InsufficientCredits (402,
   * with `balance`) when too few are available; IdempotencyKeyReused when the key was used
   * for another amount or service. Retried safely: the key is sent again on each retry. */
  consumeCredits(amount: number, service: string, options: ConsumeOptions = {}): Promise<Transfer> {
    const body: Record<string, unknown> = {
      amount,
      service,
      idempotency_key: options.idempotencyKey ?? newKey(this.auth),
    };
    if (options.metadata !== undefined) body["metadata"] = options.metadata;
    return this.auth.request<Transfer>("/api/cross-app/credits/consume", { json: body, retry: "safe" });
  }

  /** Buy a package (or `amount` credits) through Stripe Checkout (needs credits:purchase):
   * by default the page goes to Checkout (location.assign) and returns to a registered
   * redirect URL. Answers the Checkout session. */
  async purchaseCredits(
    amount?: number | null,
    packageId?: string | null,
    options: PurchaseOptions = {},
  ): Promise<Purchase> {
    const body: Record<string, unknown> = {};
    if (packageId) body["package_id"] = packageId;
    else body["amount"] = amount;
    const success = options.successUrl ?? this.auth.redirectUrl;
    if (success) body["success_url"] = success;
    if (options.cancelUrl) body["cancel_url"] = options.cancelUrl;
    const purchase = await this.auth.request<Purchase>("/api/cross-app/credits/purchase", {
      json: body,
      retry: "throttle", // not deduplicated by the server: only what it refused is retried
    });
    const open = options.open ?? "redirect";
    if (open === "redirect") this.navigator.assign(purchase.url);
    else if (open === "popup") this.navigator.open(purchase.url);
    return purchase;
  }
}

/** Purchases and subscriptions an app token may read. These routes live under
 * /api/v1/credits, which sellerhub's CORS does not open to other origins: call them from a
 * page on sellerhub's origin, through your back end, or from server-side JavaScript. */
export class PaymentSDK {
  constructor(private readonly auth: CrossAppAuthSDK) {}

  /** A purchase's state (open, processing, paid, failed, expired); with `fulfil` the session
   * is re-read from Stripe and credited once when paid. Needs credits:read. */
  getPurchaseStatus(checkoutSessionId: string, options: { fulfil?: boolean } = {}): Promise<PurchaseStatus> {
    const query = options.fulfil ? "?fulfil=true" : "";
    return this.auth.request<PurchaseStatus>(
      `/api/v1/credits/purchases/${encodeURIComponent(checkoutSessionId)}${query}`,
    );
  }

  /** The organization's credit subscriptions, newest first. Needs credits:read. */
  listSubscriptions(): Promise<Subscription[]> {
    return this.auth.request<Subscription[]>("/api/v1/credits/subscriptions");
  }
}
