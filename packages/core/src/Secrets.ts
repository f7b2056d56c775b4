/**
 * What counts as a secret, and how to keep it out of anything printed or stored: one definition for the
 * identifier parser, the error messages of every package and the rows of a batch.
 *
 * Two independent rules. A setting is secret by its exact name (`api_key`, `token`, `password`, ...: never a
 * substring, so `max_tokens` is not one). A value is secret by its shape, whatever field it is in: an API key
 * (`sk-...`, `sk-ant-...`, `AIza...`, a long random token) or the credentials of a URL (`user:pass@`,
 * `?key=...`).
 *
 * @since 0.1.0
 */

/**
 * Names of settings that hold a secret, compared exactly after lower-casing and reading `-` as `_`.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.names.includes("api_key") // true
 * ```
 *
 * A constant table of pure values, never written: no application state.
 * @since 0.1.0
 */
export const names: ReadonlyArray<string> = [
  "api_key",
  "apikey",
  "api_token",
  "key",
  "token",
  "access_token",
  "auth_token",
  "refresh_token",
  "session_token",
  "bearer",
  "auth",
  "authorization",
  "secret",
  "client_secret",
  "secret_key",
  "access_key",
  "private_key",
  "password",
  "passwd",
  "pwd",
  "credential",
  "credentials",
  "sig",
  "signature",
  "x_api_key",
  "x_amz_signature",
  "x_amz_credential",
  "x_amz_security_token",
  "x_goog_signature"
]

/**
 * Whether a setting (or URL query parameter) of this name holds a secret: an exact match against
 * {@link names}, so `api_key` and `API-KEY` are secret and `max_tokens` is not.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.isSecretName("api_key")    // true
 * Secrets.isSecretName("max_tokens") // false
 * ```
 * @since 0.1.0
 */
export const isSecretName = (name: string): boolean => names.includes(name.trim().toLowerCase().replace(/-/g, "_"))

// Keys of the providers' own formats. `sk-` keys count from a few characters on, because providers echo them
// half masked ("sk-proj-****abcd"); the other prefixes only with a key's length after them, so that a name like
// `hf_llama` is not one. The prefix is kept when scrubbing a provider's message: it tells which key was refused.
const prefixed =
  /\b(sk-(?:ant-|proj-|svcacct-|admin-)?)[A-Za-z0-9_*.-]{4,}|\b(gsk_|hf_|r8_|gh[pousr]_|github_pat_|xox[abprs]-|AIza|AKIA)[A-Za-z0-9_-]{16,}/g
// Keys of no known format: a long run of letters and digits with both in it. Shorter runs are names and
// version numbers; a path, a model name or a URL breaks into shorter runs at its separators.
const longRun = /[A-Za-z0-9]{32,}/g
const random = (run: string): boolean => /\d/.test(run) && /[A-Za-z]/.test(run)

/**
 * Whether a text is, or holds, something shaped like an API key: a provider key format (`sk-...`,
 * `sk-ant-...`, `sk-proj-...`, `AIza...`, `gsk_...`, `hf_...`, ...) or 32 or more letters and digits in a row.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.looksLikeKey("sk-proj-abc123def456") // true
 * Secrets.looksLikeKey("gpt-4o-mini")          // false
 * ```
 * @since 0.1.0
 */
export const looksLikeKey = (text: string): boolean => {
  if (text.search(prefixed) !== -1) return true
  for (const run of text.match(longRun) ?? []) if (random(run)) return true
  return false
}

const maskPrefixed = (text: string, keepPrefix: boolean): string =>
  text.replace(prefixed, (_, sk?: string, other?: string) => keepPrefix ? `${sk ?? other}***` : "***")

// `scheme://userinfo@`: everything up to the last '@' before the path is the userinfo.
const userinfo = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#\s]*@/g
// One parameter of a query or a fragment (OAuth puts tokens in `#access_token=`).
const parameter = /([?&#;])([^=&#;\s]*)=([^&#;\s]*)/g

/**
 * A text with the credentials of every URL in it masked: the userinfo (`https://***@host`), the values of
 * query and fragment parameters that are secret by name or by shape (`?key=***`), and anything shaped like
 * an API key. The rest of the URL (scheme, host, path) is kept, so it still says where requests go.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.mask("https://proxy.example/v1?key=abc&region=eu") // "https://proxy.example/v1?key=***&region=eu"
 * Secrets.mask("https://user:pass@proxy.example/v1").includes("pass") // false: the userinfo is masked
 * ```
 * @since 0.1.0
 */
export const mask = (text: string): string =>
  maskPrefixed(
    text
      .replace(userinfo, "$1***@")
      .replace(parameter, (whole, start: string, name: string, value: string) =>
        value.length > 0 && (isSecretName(name) || looksLikeKey(value)) ? `${start}${name}=***` : whole),
    false
  ).replace(longRun, (run) =>
    random(run) ? "***" : run)

/**
 * The credentials a URL carries, as they may appear in messages (raw and percent-decoded): its userinfo, its
 * password, and the values of its secret query parameters. Hand them to {@link scrub} with the API key.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.credentialsOf("https://bob:hunter2@proxy.example/v1") // ["bob:hunter2", "hunter2"]
 * ```
 * @since 0.1.0
 */
export const credentialsOf = (url: string): ReadonlyArray<string> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return []
  }
  const found = new Set<string>()
  const add = (value: string) => {
    if (value.length === 0) return
    found.add(value)
    try {
      found.add(decodeURIComponent(value))
    } catch {
      // Not percent-encoded after all: the raw form is the one that can appear.
    }
  }
  // A user name alone (`https://TOKEN@host`) is the credential; next to a password it is usually not secret,
  // and scrubbing a common word like "user" from every message would garble them.
  if (parsed.password.length > 0) {
    add(`${parsed.username}:${parsed.password}`)
    add(parsed.password)
  } else {
    add(parsed.username)
  }
  for (const [name, value] of parsed.searchParams) {
    if (isSecretName(name) || looksLikeKey(value)) add(value)
  }
  return [...found]
}

/**
 * A URL as it may be stored and compared: its userinfo removed, secret query parameters masked, no fragment and
 * no trailing slash. Text that is not a URL is masked like any message ({@link mask}).
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.withoutCredentials("https://bob:hunter2@proxy.example/v1/?key=abc") // "https://proxy.example/v1/?key=***"
 * ```
 * @since 0.3.0
 */
export const withoutCredentials = (text: string): string => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return mask(text)
  }
  url.username = ""
  url.password = ""
  for (const [name, entry] of [...url.searchParams]) {
    if (isSecretName(name) || looksLikeKey(entry)) url.searchParams.set(name, "***")
  }
  url.hash = ""
  return url.href.replace(/\/+$/, "")
}

/**
 * A message with every given secret replaced by `***`, URL credentials masked (see {@link mask}) and
 * anything else shaped like an API key masked, keeping the key's prefix (`sk-proj-***`). For texts that come
 * from elsewhere, such as a provider's error messages, which echo keys and URLs.
 *
 * @example
 * ```ts
 * import { Secrets } from "@capstan/core"
 *
 * Secrets.scrub("Incorrect API key provided: my-key (see sk-proj-abc123)", ["my-key"])
 * // "Incorrect API key provided: *** (see sk-proj-***)"
 * ```
 * @since 0.1.0
 */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join("***")
  }
  out = out
    .replace(userinfo, "$1***@")
    .replace(
      parameter,
      (whole, start: string, name: string, value: string) =>
        value.length > 0 && isSecretName(name) ? `${start}${name}=***` : whole
    )
  // Only the provider formats here: a provider's message carries long ids (request ids, hashes) worth keeping.
  return maskPrefixed(out, true)
}
