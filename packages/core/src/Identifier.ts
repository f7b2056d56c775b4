/**
 * Generator identifiers, as syntax: `[provider!]model[,key=value]*`, e.g. `openai!gpt-4o-mini,temperature=0.5`,
 * parsed against the providers given (`GeneratorRegistry.parse` parses against the registry in context) and
 * printed back with secrets masked.
 *
 * Keys that are {@link GenerateParams} fields (`temperature`, `max_tokens`, `stop=a;b`, ...) become params;
 * the rest are settings of the provider (`api_key`, `base_url`, ...) or of the engine (`rpm`, `tpm`,
 * `max_connections`, ...). Values are typed by the key: integers, floats, `true`/`false`, `;`-lists, secrets.
 *
 * @since 0.1.0
 */
import { Data, Redacted, Result, Schema } from "effect"
import { dual } from "effect/Function"
import { InvalidIdentifier } from "./ConfigError.js"
import * as GenerateParams from "./GenerateParams.js"
import * as Secrets from "./Secrets.js"

/**
 * The type of a setting's value. `secret` values are held as `Redacted` and printed as `***`. A `string`
 * value that carries a secret anyway (a well-known secret name such as `token`, a value shaped like an API
 * key, a URL with `user:pass@` or `?key=...`) is held as `Redacted` too, labelled with its masked form.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 *
 * const kind: Identifier.SettingKind | undefined = Identifier.engineSettings.rpm?.kind // "int"
 * ```
 * @since 0.1.0
 */
export type SettingKind = "string" | "int" | "float" | "bool" | "secret"

/**
 * A setting a provider accepts in its identifiers.
 *
 * @example
 * ```ts
 * import type { Identifier } from "@capstan/core"
 *
 * const apiKey: Identifier.SettingSpec = { kind: "secret", description: "the API key" }
 * const retries: Identifier.SettingSpec = { kind: "int", description: "retries, at most", minimum: 0 }
 * ```
 * @since 0.1.0
 */
export interface SettingSpec {
  readonly kind: SettingKind
  readonly description: string
  /** The least value an `int` or `float` setting takes. */
  readonly minimum?: number
}

/**
 * A setting's parsed value.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const id = Identifier.make({
 *   provider: "openai",
 *   model: "gpt-4o-mini",
 *   settings: { api_key: Redacted.make("sk-test"), rpm: 500 }
 * })
 * const rpm: Identifier.SettingValue | undefined = id.setting("rpm") // 500
 * const key = id.setting("api_key")
 * const text = Redacted.isRedacted(key) ? Redacted.value(key) : String(key) // "sk-test"
 * ```
 * @since 0.1.0
 */
export type SettingValue = string | number | boolean | Redacted.Redacted<string>

/**
 * What parsing needs to know of a provider: its name, its settings and the model names it is inferred from.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const local: Identifier.ProviderSyntax = {
 *   name: "local",
 *   settings: { base_url: { kind: "string", description: "the server's URL" } },
 *   models: /^llama/
 * }
 * Result.isSuccess(Identifier.parseWith([local])("llama3,base_url=http://localhost:8080")) // true
 * ```
 * @since 0.1.0
 */
export interface ProviderSyntax {
  readonly name: string
  readonly settings: Readonly<Record<string, SettingSpec>>
  /** Model names that select this provider when the identifier names none (e.g. `/^gpt-/`). */
  readonly models?: RegExp
}

/**
 * Settings every provider accepts: they configure the batch engine for that generator.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 *
 * Object.keys(Identifier.engineSettings) // ["rpm", "tpm", "max_connections", "min_delay_ms", "max_retries"]
 * ```
 * @since 0.1.0
 */
export const engineSettings: Readonly<Record<string, SettingSpec>> = {
  rpm: { kind: "int", description: "requests per minute this generator may send", minimum: 1 },
  tpm: { kind: "int", description: "tokens per minute this generator may use", minimum: 1 },
  max_connections: { kind: "int", description: "requests in flight at once, at most", minimum: 1 },
  min_delay_ms: { kind: "float", description: "minimum delay between two request starts, in milliseconds", minimum: 0 },
  max_retries: { kind: "int", description: "retries of a retryable failure, at most", minimum: 0 }
}

/**
 * A parsed generator identifier.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry, Identifier } from "@capstan/core"
 *
 * const id = Effect.runSync(GeneratorRegistry.parse("mock!echo,temperature=0.5"))
 * id.provider            // "mock"
 * id.params.temperature  // 0.5
 * Identifier.format(id)  // "mock!echo,temperature=0.5"
 * ```
 * @since 0.1.0
 */
export class Identifier extends Data.Class<{
  readonly provider: string
  readonly model: string
  readonly params: GenerateParams.GenerateParams
  readonly settings: Readonly<Record<string, SettingValue>>
}> {
  /** The identifier as text, secrets masked. */
  override toString(): string {
    return format(this)
  }
  /** The value of a setting, if set. */
  setting(key: string): SettingValue | undefined {
    return this.settings[key]
  }
}

/**
 * Builds an identifier from its parts.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 *
 * Identifier.make({ provider: "mock", model: "echo" }).toString() // "mock!echo"
 * ```
 * @since 0.1.0
 */
export const make = (parts: {
  readonly provider: string
  readonly model: string
  readonly params?: GenerateParams.GenerateParams | GenerateParams.Fields
  readonly settings?: Readonly<Record<string, SettingValue>>
}): Identifier =>
  new Identifier({
    provider: parts.provider,
    model: parts.model,
    params: GenerateParams.make(parts.params ?? {}),
    settings: parts.settings ?? {}
  })

/**
 * The identifier with its params replaced, e.g. by the merged params of a request.
 *
 * @example
 * ```ts
 * import { GenerateParams, Identifier } from "@capstan/core"
 *
 * const id = Identifier.make({ provider: "mock", model: "echo" })
 * Identifier.format(Identifier.withParams(id, GenerateParams.make({ n: 2 }))) // "mock!echo,n=2"
 * ```
 * @since 0.1.0
 */
export const withParams: {
  (params: GenerateParams.GenerateParams): (self: Identifier) => Identifier
  (self: Identifier, params: GenerateParams.GenerateParams): Identifier
} = dual(
  2,
  (self: Identifier, params: GenerateParams.GenerateParams): Identifier =>
    withKeyOrder(new Identifier({ ...self, params }), keyOrder.get(self))
)

// The order keys were written in, so that formatting a parsed identifier gives back the same text. Kept
// outside the identifier's fields: two identifiers that differ only in key order are equal.
const keyOrder = new WeakMap<Identifier, ReadonlyArray<string>>()
const withKeyOrder = (identifier: Identifier, order: ReadonlyArray<string> | undefined): Identifier => {
  if (order !== undefined) keyOrder.set(identifier, order)
  return identifier
}

/**
 * Formats an identifier. Unless `secrets: "show"` is passed, every secret prints masked: `secret` settings
 * and settings with a well-known secret name as `***`, URLs without their credentials
 * (`https://***@host/v1?key=***`), and any value shaped like an API key as `***`. Parsing the result gives
 * back an equal identifier, but for the masked parts, which read `***`. This is how rows, chats, errors and
 * progress print a generator.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry, Identifier } from "@capstan/core"
 *
 * const id = Effect.runSync(GeneratorRegistry.parse("mock!echo,stop=a;b;c"))
 * Identifier.format(id) // "mock!echo,stop=a;b;c"
 * ```
 * @since 0.1.0
 */
export const format = (self: Identifier, options?: { readonly secrets?: "mask" | "show" }): string => {
  const show = options?.secrets === "show"
  const entries = new Map<string, string>()
  for (const { key, field, kind } of GenerateParams.identifierKeys) {
    const value = self.params[field]
    if (value === undefined) continue
    entries.set(
      key,
      kind === "list"
        ? (value as ReadonlyArray<string>).map((item) => show ? item : Secrets.mask(item)).join(";")
        : String(value)
    )
  }
  for (const [key, value] of Object.entries(self.settings)) entries.set(key, show ? reveal(value) : masked(key, value))
  const order = [...(keyOrder.get(self) ?? []).filter((key) => entries.has(key)), ...entries.keys()]
  const parts = [`${self.provider}!${self.model}`]
  for (const key of new Set(order)) parts.push(`${key}=${entries.get(key)}`)
  return parts.join(",")
}

const reveal = (value: SettingValue): string => Redacted.isRedacted(value) ? Redacted.value(value) : String(value)

const masked = (key: string, value: SettingValue): string => {
  if (Secrets.isSecretName(key)) return "***"
  if (!Redacted.isRedacted(value)) return typeof value === "string" ? Secrets.mask(value) : String(value)
  // The parser labels a string setting that carries credentials with its masked form. Any other label (one a
  // caller chose) could say anything, and a `secret` setting has none: those print as `***`.
  return value.label !== undefined && value.label === Secrets.mask(Redacted.value(value)) ? value.label : "***"
}

// Identifier text is split into pieces at these, so that a ';' or a space typed for a ',' still separates a
// secret from its key.
const separators = /([,;!\s]+)/

/**
 * Masks the secrets in identifier text that could not be parsed, so that errors never echo one: the values of
 * secret keys (by exact name: `api_key=***`, `token=***`, and the given `secretKeys`), whether written with
 * `=` or `:`, anything shaped like an API key wherever it stands (a model, a bare token, an unknown key's
 * value), and the credentials of URLs. Other values, `max_tokens=100` among them, are kept.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 *
 * Identifier.maskSecrets("openai!gpt-4o,api_key=sk-123,max_tokens=100") // "openai!gpt-4o,api_key=***,max_tokens=100"
 * Identifier.maskSecrets("openai!gpt-4o;api_kye=sk-live-0123456789")    // "openai!gpt-4o;api_kye=***"
 * ```
 * @since 0.1.0
 */
export const maskSecrets = (text: string, secretKeys: ReadonlyArray<string> = []): string => {
  const parts = text.split(separators)
  // A secret's value runs to the next ',' or ';': `auth=Bearer abc` or `password: abc` hide `abc` too.
  let inSecret = false
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (i % 2 === 1) {
      if (/[,;!]/.test(part)) inSecret = false
    } else if (inSecret) {
      if (part.length > 0) parts[i] = "***"
    } else {
      const pair = /^([^=:]*)([=:])([\s\S]*)$/.exec(part)
      const key = pair?.[1] ?? ""
      inSecret = pair !== null && isSecretKey(key, secretKeys)
      parts[i] = maskPiece(part, pair, inSecret)
    }
  }
  return parts.join("")
}

const maskPiece = (piece: string, pair: RegExpExecArray | null, secret: boolean): string => {
  if (pair === null) return Secrets.mask(piece)
  const [, key = "", separator = "", value = ""] = pair
  if (Secrets.looksLikeKey(key)) return "***"
  if (value.length > 0 && (secret || Secrets.looksLikeKey(value))) return `${key}${separator}***`
  return Secrets.mask(piece)
}

const isSecretKey = (key: string, secretKeys: ReadonlyArray<string>): boolean =>
  Secrets.isSecretName(key) || secretKeys.includes(key.trim())

interface Token {
  readonly text: string
  readonly position: number
}

/**
 * Parses an identifier against the given providers. Fails with an {@link InvalidIdentifier} that says what
 * is wrong, where, and how to fix it, with every secret of the text masked: a model name with whitespace, ';'
 * or '=' in it (a mistyped ','), a key-shaped model or bare token, an unknown key (with the nearest known
 * one), a value of the wrong type, or out of its range (`temperature` 0 to 2, `rpm` 1 or more, ...).
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const providers = [{ name: "mock", settings: {} }]
 * Result.isSuccess(Identifier.parseWith(providers)("mock!echo,max_tokens=100")) // true
 * Result.isFailure(Identifier.parseWith(providers)("mock!echo,rpm=0"))          // true
 * ```
 * @since 0.1.0
 */
export const parseWith =
  (providers: ReadonlyArray<ProviderSyntax>) => (text: string): Result.Result<Identifier, InvalidIdentifier> => {
    const secretKeys = providers.flatMap((p) =>
      Object.entries(p.settings).filter(([, s]) => s.kind === "secret").map(([k]) => k)
    )
    const shown = maskSecrets(text, secretKeys)
    const fail = (reason: string, extra: { position?: number; key?: string; hint?: string } = {}) =>
      Result.fail(new InvalidIdentifier({ identifier: shown, reason, ...extra }))
    // A value as an error may quote it.
    const quote = (key: string, value: string) =>
      isSecretKey(key, secretKeys) || Secrets.looksLikeKey(value) ? "***" : Secrets.mask(value)
    const names = providers.map((p) => p.name)
    const registered = names.length === 0 ? "none" : names.join(", ")

    if (text.trim().length === 0) {
      return fail("it is empty", {
        hint: "Write [provider!]model[,key=value]*, e.g. openai!gpt-4o-mini,temperature=0.5"
      })
    }
    const [head, ...rest] = splitTokens(text)
    const bangs = [...head!.text.matchAll(/!/g)].map((m) => m.index)
    if (bangs.length > 1) {
      return fail("more than one '!' before the first ','", { position: bangs[1]!, hint: "Write provider!model" })
    }
    let providerName: string | undefined
    let model = head!.text
    let modelStart = 0
    if (bangs.length === 1) {
      providerName = head!.text.slice(0, bangs[0])
      model = head!.text.slice(bangs[0]! + 1)
      modelStart = bangs[0]! + 1
      if (providerName.length === 0) return fail("the provider before '!' is empty", { position: 0 })
    }
    if (model.length === 0) {
      return fail("the model name is empty", { position: modelStart, hint: "Write provider!model" })
    }
    const problem = modelProblem(model)
    if (problem !== undefined) {
      return fail(problem.reason, { position: modelStart + problem.offset, hint: problem.hint })
    }
    let provider: ProviderSyntax | undefined
    if (providerName === undefined) {
      provider = providers.find((p) => p.models?.test(model) === true)
      if (provider === undefined) {
        return fail(`no provider is known for the model "${Secrets.mask(model)}"`, {
          position: 0,
          hint: `Name one as provider!${Secrets.mask(model)}; registered providers: ${registered}`
        })
      }
    } else {
      provider = providers.find((p) => p.name === providerName)
      if (provider === undefined) {
        return fail(`unknown provider "${quote("", providerName)}"`, {
          position: 0,
          hint: `Registered providers: ${registered}`
        })
      }
    }

    const known = [
      ...GenerateParams.identifierKeys.map((k) => k.key),
      ...Object.keys(provider.settings),
      ...Object.keys(engineSettings)
    ]
    const secretSetting = Object.entries(provider.settings).find(([, s]) => s.kind === "secret")?.[0]
    const params: Record<string, unknown> = {}
    const settings: Record<string, SettingValue> = {}
    const seen = new Set<string>()
    for (const token of rest) {
      const eq = token.text.indexOf("=")
      if (token.text.length === 0) {
        return fail("an empty key=value pair (a stray ',')", {
          position: token.position - 1,
          hint: "Remove the extra ','"
        })
      }
      if (eq <= 0) {
        const quoted = maskSecrets(token.text, secretKeys)
        return eq === 0
          ? fail(`a value without a key in "${quoted}"`, {
            position: token.position,
            hint: "Settings are written key=value, separated by ','"
          })
          : fail(`"${quoted}" is not key=value`, {
            position: token.position,
            hint: notKeyValueHint(token.text, known, secretSetting)
          })
      }
      const key = token.text.slice(0, eq)
      const shownKey = Secrets.looksLikeKey(key) ? "***" : key
      const raw = token.text.slice(eq + 1)
      const position = token.position + eq + 1
      if (seen.has(key)) {
        return fail(`the key "${shownKey}" is given twice`, { position: token.position, key: shownKey })
      }
      seen.add(key)

      const param = GenerateParams.identifierKeys.find((k) => k.key === key)
      if (param !== undefined) {
        const value = typedValue(param.kind, raw)
        if (value === undefined) {
          return fail(`${key} expects ${kindName(param.kind)}, got "${quote(key, raw)}"`, { position, key })
        }
        if (Array.isArray(value)) {
          // `stop=a;api_key=sk-...`: a ';' typed for a ',' would send the key as a stop sequence.
          const item = value.find((item) => Secrets.looksLikeKey(item) || isSetting(item, known))
          if (item !== undefined) {
            const what = Secrets.looksLikeKey(item) ? "an API key" : "a setting"
            return fail(`an item of ${key} looks like ${what}: "${maskSecrets(item, secretKeys)}"`, {
              position,
              key,
              hint: "Separate settings with ','; ';' separates the items of a list"
            })
          }
        }
        const expected = outOfRange(param.field, value)
        if (expected !== undefined) {
          return fail(`${key} is out of range: ${expected}, got ${raw}`, { position, key, ...rangeHint(key, expected) })
        }
        params[param.field] = value
        continue
      }
      const spec = provider.settings[key] ?? engineSettings[key]
      if (spec === undefined) {
        const suggestion = suggest(key, known, secretSetting)
        return fail(`unknown key "${shownKey}" for provider "${provider.name}"`, {
          position: token.position,
          key: shownKey,
          hint: suggestion === undefined ? `Known keys: ${known.join(", ")}` : `Did you mean ${suggestion}?`
        })
      }
      if (spec.kind === "secret") {
        settings[key] = Redacted.make(raw)
        continue
      }
      const value = typedValue(spec.kind, raw)
      if (value === undefined) {
        return fail(`${key} expects ${kindName(spec.kind)}, got "${quote(key, raw)}"`, { position, key })
      }
      if (typeof value === "number" && spec.minimum !== undefined && value < spec.minimum) {
        const expected = `expected a value greater than or equal to ${spec.minimum}`
        return fail(`${key} is out of range: ${expected}, got ${raw}`, { position, key, ...rangeHint(key, expected) })
      }
      settings[key] = typeof value === "string" ? held(key, value) : value as SettingValue
    }
    const decoded = Schema.decodeUnknownResult(GenerateParams.GenerateParams)(params)
    if (Result.isFailure(decoded)) {
      const issue = decoded.failure.message
      const field = Object.keys(params).find((f) => issue.includes(`"${f}"`))
      const key = GenerateParams.identifierKeys.find((k) => k.field === field)?.key
      return fail(
        key === undefined ? issue : `${key} is out of range: ${issue.split("\n")[0]}`,
        key === undefined ? {} : { key }
      )
    }
    return Result.succeed(
      withKeyOrder(new Identifier({ provider: provider.name, model, params: decoded.success, settings }), [...seen])
    )
  }

interface Problem {
  readonly offset: number
  readonly reason: string
  readonly hint: string
}

/** Whitespace, ';' or '=' in a model name are a mistyped ','; a model shaped like a key is a key out of place. */
const modelProblem = (model: string): Problem | undefined => {
  const offset = model.search(/[\s;=]/)
  if (offset !== -1) {
    const char = model[offset]!
    return /\s/.test(char)
      ? {
        offset,
        reason: "the model name contains whitespace",
        hint: "Write the identifier without spaces, the settings separated by ',': provider!model,key=value"
      }
      : {
        offset,
        reason: `the model name contains '${char}'`,
        hint: "Separate the settings from the model, and from each other, with ',': provider!model,key=value,key=value"
      }
  }
  // A path names a model's files (they may be named by a hash); anywhere else a key-shaped model is a key.
  if (!model.includes("/") && Secrets.looksLikeKey(model)) {
    return {
      offset: 0,
      reason: "the model name looks like an API key",
      hint:
        "Give a key as api_key=... after the model (provider!model,api_key=...), or in the provider's environment variable"
    }
  }
  return undefined
}

const notKeyValueHint = (text: string, known: ReadonlyArray<string>, secretSetting: string | undefined): string => {
  const colon = /^([^:]+):/.exec(text)?.[1]?.trim()
  if (colon !== undefined && known.includes(colon)) return `Write ${colon}=..., with '=' between the key and its value`
  const secret = secretSetting ?? "api_key"
  if (colon !== undefined && Secrets.isSecretName(colon)) {
    return `Write ${secret}=..., with '=' between the key and its value`
  }
  if (Secrets.looksLikeKey(text)) {
    return `This looks like an API key: write ${secret}=..., or set it in the provider's environment variable`
  }
  return "Settings are written key=value, separated by ','"
}

const isSetting = (item: string, known: ReadonlyArray<string>): boolean => {
  const key = /^([^=]+)=/.exec(item)?.[1]?.trim()
  return key !== undefined && (known.includes(key) || Secrets.isSecretName(key))
}

/** What the {@link GenerateParams} schema expects of a param's value, when the value is not that. */
const outOfRange = (field: GenerateParams.IdentifierKey["field"], value: unknown): string | undefined => {
  const decoded = Schema.decodeUnknownResult(GenerateParams.GenerateParams)({ [field]: value })
  if (Result.isSuccess(decoded)) return undefined
  const first = decoded.failure.message.split("\n")[0] ?? ""
  return first.charAt(0).toLowerCase() + first.slice(1)
}

const rangeHint = (key: string, expected: string): { readonly hint?: string } => {
  const range = /^expected a value (.+)$/.exec(expected)?.[1]
  return range === undefined ? {} : { hint: `Give ${key} a value ${range}` }
}

// A string setting that carries a secret is held like a secret; its label is its masked form, which `format`
// prints (a URL without its credentials still says where requests go).
const held = (key: string, value: string): SettingValue => {
  if (Secrets.isSecretName(key)) return Redacted.make(value)
  const masked = Secrets.mask(value)
  return masked === value ? value : Redacted.make(value, { label: masked })
}

/** The known key nearest to an unknown one: its snake_case, the provider's key for a secret, or a typo away. */
const suggest = (key: string, known: ReadonlyArray<string>, secretSetting: string | undefined): string | undefined => {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  if (snake !== key && known.includes(snake)) return snake
  if (secretSetting !== undefined && Secrets.isSecretName(key)) return secretSetting
  const lower = key.trim().toLowerCase()
  let best: string | undefined
  let bestDistance = Math.min(2, Math.floor(lower.length / 3)) + 1
  for (const candidate of known) {
    const d = distance(lower, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Edit distance, with a swap of two neighbours as one edit (`api_kye` is one from `api_key`). */
const distance = (a: string, b: string): number => {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0)
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!
      const above = d[i - 1]!
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
      }
    }
  }
  return d[a.length]![b.length]!
}

const splitTokens = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let position = 0
  for (const part of text.split(",")) {
    tokens.push({ text: part, position })
    position += part.length + 1
  }
  return tokens
}

const kindName = (kind: SettingKind | GenerateParams.IdentifierKey["kind"]): string => {
  switch (kind) {
    case "int":
      return "an integer"
    case "float":
      return "a number"
    case "bool":
      return "true or false"
    case "list":
      return "a ';'-separated list"
    default:
      return "a string"
  }
}

const typedValue = (
  kind: SettingKind | GenerateParams.IdentifierKey["kind"],
  raw: string
): string | number | boolean | ReadonlyArray<string> | undefined => {
  switch (kind) {
    case "int":
      return /^-?\d+$/.test(raw) ? Number(raw) : undefined
    case "float": {
      const n = raw.trim().length === 0 ? NaN : Number(raw)
      return Number.isFinite(n) ? n : undefined
    }
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : undefined
    case "list":
      return raw.split(";")
    default:
      return raw
  }
}
