/** The API's shapes, from the generated OpenAPI types (src/generated/api.d.ts). */
import type { components } from "./generated/api.js";

type Schemas = components["schemas"];

export type TokenPair = Schemas["AppTokenPair"];
export type UserInfo = Schemas["UserInfo"];
export type AppUser = Schemas["AppUser"];
export type CreditPackage = Schemas["PackageOut"];
export type CreditBalance = Schemas["CrossAppCredits"];
export type CreditCheck = Schemas["CreditCheckOut"];
export type Transfer = Schemas["sellerhub__billing__credits__schemas__TransferOut"];
export type Purchase = Schemas["PurchaseOut"];
export type PurchaseStatus = Schemas["PurchaseStatusOut"];
export type Subscription = Schemas["SubscriptionOut"];
