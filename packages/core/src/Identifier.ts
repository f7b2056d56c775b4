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
import {
  isSetting,
  kindName,
  modelProblem,
  notKeyValueHint,
  outOfRange,
  rangeHint,
  splitTokens,
  suggest,
  typedValue
} from "./internal/identifierText.js"
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

// A string setting that carries a secret is held like a secret; its label is its masked form, which `format`
// prints (a URL without its credentials still says where requests go).
const held = (key: string, value: string): SettingValue => {
  if (Secrets.isSecretName(key)) return Redacted.make(value)
  const masked = Secrets.mask(value)
  return masked === value ? value : Redacted.make(value, { label: masked })
}
