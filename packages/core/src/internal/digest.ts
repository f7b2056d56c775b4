/**
 * A stable, URL-safe digest of a text (SHA-256 through Web Crypto, present in Node and browsers): keys that must be
 * the same in every process and on every machine, such as a response cache key or a provider batch's custom id for
 * an item id that does not fit the provider's pattern.
 *
 * @internal
 */
import { Effect } from "effect"

const encoder = new TextEncoder()

const base64Url = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

/** The SHA-256 of `text` (UTF-8) in base64url, 43 characters of `[A-Za-z0-9_-]`. */
export const sha256 = (text: string): Effect.Effect<string> =>
  Effect.map(
    Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", encoder.encode(text))),
    (buffer) => base64Url(new Uint8Array(buffer))
  )
