/** PKCE (RFC 7636, S256) and the per-attempt nonce, on the platform's Web Crypto. */

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 32 random bytes, base64url without padding (43 characters). */
export function randomToken(crypto: Crypto = globalThis.crypto): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** base64url(SHA-256(ascii(verifier))), 43 characters. */
export async function codeChallenge(
  verifier: string,
  crypto: Crypto = globalThis.crypto,
): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export interface Pkce {
  nonce: string;
  verifier: string;
  challenge: string;
}

export async function newAttempt(crypto: Crypto = globalThis.crypto): Promise<Pkce> {
  const verifier = randomToken(crypto);
  return { nonce: randomToken(crypto), verifier, challenge: await codeChallenge(verifier, crypto) };
}
