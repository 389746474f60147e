/** @sellerhub/sdk: sellerhub in the browser — embedded login, app tokens in memory, credits
 * and purchases. UI elements: "@sellerhub/sdk/components". */
export { CrossAppAuthSDK } from "./auth.js";
export type { AuthConfig, AuthEnv, AuthEvent, AuthEventType, AuthListener, ChannelLike } from "./auth.js";
export { CreditSDK, PaymentSDK } from "./credits.js";
export type { ConsumeOptions, Navigator, PurchaseOptions } from "./credits.js";
export {
  BadRequest,
  Conflict,
  Forbidden,
  IdempotencyKeyReused,
  InsufficientCredits,
  LoginFailed,
  LoginTimeout,
  NetworkError,
  NotAuthenticated,
  NotFound,
  PopupBlocked,
  PopupClosed,
  RateLimited,
  SellerhubError,
  ServerError,
  ValidationFailed,
  errorFromResponse,
} from "./errors.js";
export type { ProblemBody } from "./errors.js";
export type { RetryPolicy, FetchLike } from "./http.js";
export { codeChallenge, newAttempt } from "./pkce.js";
export type * from "./types.js";
