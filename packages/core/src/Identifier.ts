/**
 * Generator identifiers: `[provider!]model[,key=value]*`, e.g. `openai!gpt-4o-mini,temperature=0.5`.
 *
 * Keys that are {@link GenerateParams} fields (`temperature`, `max_tokens`, `stop=a;b`, ...) become params;
 * the rest are settings of the provider (`api_key`, `base_url`, ...) or of the engine (`rpm`, `tpm`,
 * `max_connections`, ...). Values are typed by the key: integers, floats, `true`/`false`, `;`-lists, secrets.
 *
 * @since 0.1.0
 */
import { Data, Effect, Redacted, Result, Schema } from "effect"
import { dual } from "effect/Function"
import { InvalidIdentifier } from "./Errors.js"
import { GeneratorRegistry } from "./GeneratorRegistry.js"
import * as GenerateParams from "./GenerateParams.js"

/**
 * The type of a setting's value. `secret` values are held as `Redacted` and printed as `***`.
 *
 * @since 0.1.0
 */
export type SettingKind = "string" | "int" | "float" | "bool" | "secret"

/**
 * A setting a provider accepts in its identifiers.
 *
 * @since 0.1.0
 */
export interface SettingSpec {
  readonly kind: SettingKind
  readonly description: string
}

/**
 * A setting's parsed value.
 *
 * @since 0.1.0
 */
export type SettingValue = string | number | boolean | Redacted.Redacted<string>

/**
 * What parsing needs to know of a provider: its name, its settings and the model names it is inferred from.
 *
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
  rpm: { kind: "int", description: "requests per minute this generator may send" },
  tpm: { kind: "int", description: "tokens per minute this generator may use" },
  max_connections: { kind: "int", description: "requests in flight at once, at most" },
  min_delay_ms: { kind: "float", description: "minimum delay between two request starts, in milliseconds" },
  max_retries: { kind: "int", description: "retries of a retryable failure, at most" }
}

/**
 * A parsed generator identifier.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const id = Effect.runSync(Identifier.parse("mock!echo,temperature=0.5"))
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
} = dual(2, (self: Identifier, params: GenerateParams.GenerateParams): Identifier =>
  withKeyOrder(new Identifier({ ...self, params }), keyOrder.get(self)))

// The order keys were written in, so that formatting a parsed identifier gives back the same text. Kept
// outside the identifier's fields: two identifiers that differ only in key order are equal.
const keyOrder = new WeakMap<Identifier, ReadonlyArray<string>>()
const withKeyOrder = (identifier: Identifier, order: ReadonlyArray<string> | undefined): Identifier => {
  if (order !== undefined) keyOrder.set(identifier, order)
  return identifier
}

const secretName = /key|token|secret|password/i

/**
 * Formats an identifier. Secrets print as `***` unless `secrets: "show"` is passed; parsing the result gives
 * back an equal identifier (for masked secrets, one whose secret reads `***`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const id = Effect.runSync(Identifier.parse("mock!echo,stop=a;b;c"))
 * Identifier.format(id) // "mock!echo,stop=a;b;c"
 * ```
 * @since 0.1.0
 */
export const format = (self: Identifier, options?: { readonly secrets?: "mask" | "show" }): string => {
  const entries = new Map<string, string>()
  for (const { key, field, kind } of GenerateParams.identifierKeys) {
    const value = self.params[field]
    if (value === undefined) continue
    entries.set(key, kind === "list" ? (value as ReadonlyArray<string>).join(";") : String(value))
  }
  for (const [key, value] of Object.entries(self.settings)) {
    entries.set(
      key,
      Redacted.isRedacted(value) ? (options?.secrets === "show" ? Redacted.value(value) : "***") : String(value)
    )
  }
  const order = [...(keyOrder.get(self) ?? []).filter((key) => entries.has(key)), ...entries.keys()]
  const parts = [`${self.provider}!${self.model}`]
  for (const key of new Set(order)) parts.push(`${key}=${entries.get(key)}`)
  return parts.join(",")
}

/**
 * Masks the values of secret-looking keys (`api_key=...`, `token=...`) in identifier text that could not be
 * parsed, so errors never echo a secret.
 *
 * @example
 * ```ts
 * import { Identifier } from "@capstan/core"
 *
 * Identifier.maskSecrets("openai!gpt-4o,api_key=sk-123") // "openai!gpt-4o,api_key=***"
 * ```
 * @since 0.1.0
 */
export const maskSecrets = (text: string, secretKeys: ReadonlyArray<string> = []): string =>
  text.replace(/([,!]?)([^,=!]+)=([^,]*)/g, (whole, sep: string, key: string, _value: string) =>
    secretName.test(key) || secretKeys.includes(key.trim()) ? `${sep}${key}=***` : whole)

interface Token {
  readonly text: string
  readonly position: number
}

/**
 * Parses an identifier against the given providers. Fails with an {@link InvalidIdentifier} that says what
 * is wrong and where.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * const providers = [{ name: "mock", settings: {} }]
 * Result.isSuccess(Identifier.parseWith(providers)("mock!echo,max_tokens=100")) // true
 * ```
 * @since 0.1.0
 */
export const parseWith = (providers: ReadonlyArray<ProviderSyntax>) =>
(text: string): Result.Result<Identifier, InvalidIdentifier> => {
  const secretKeys = providers.flatMap((p) => Object.entries(p.settings).filter(([, s]) => s.kind === "secret").map(([k]) => k))
  const shown = maskSecrets(text, secretKeys)
  const fail = (reason: string, extra: { position?: number; key?: string; hint?: string } = {}) =>
    Result.fail(new InvalidIdentifier({ identifier: shown, reason, ...extra }))
  const names = providers.map((p) => p.name)
  const registered = names.length === 0 ? "none" : names.join(", ")

  if (text.trim().length === 0) {
    return fail("it is empty", { hint: "Write [provider!]model[,key=value]*, e.g. openai!gpt-4o-mini,temperature=0.5" })
  }
  const [head, ...rest] = splitTokens(text)
  const bangs = [...head!.text.matchAll(/!/g)].map((m) => m.index)
  if (bangs.length > 1) {
    return fail("more than one '!' before the first ','", { position: bangs[1]!, hint: "Write provider!model" })
  }
  let providerName: string | undefined
  let model = head!.text
  if (bangs.length === 1) {
    providerName = head!.text.slice(0, bangs[0])
    model = head!.text.slice(bangs[0]! + 1)
    if (providerName.length === 0) return fail("the provider before '!' is empty", { position: 0 })
  }
  if (model.length === 0) {
    return fail("the model name is empty", { position: bangs.length === 1 ? bangs[0]! + 1 : 0, hint: "Write provider!model" })
  }
  let provider: ProviderSyntax | undefined
  if (providerName === undefined) {
    provider = providers.find((p) => p.models?.test(model) === true)
    if (provider === undefined) {
      return fail(`no provider is known for the model "${model}"`, {
        position: 0,
        hint: `Name one as provider!${model}; registered providers: ${registered}`
      })
    }
  } else {
    provider = providers.find((p) => p.name === providerName)
    if (provider === undefined) {
      return fail(`unknown provider "${providerName}"`, {
        position: 0,
        hint: `Registered providers: ${registered}`
      })
    }
  }

  const params: Record<string, unknown> = {}
  const settings: Record<string, SettingValue> = {}
  const seen = new Set<string>()
  for (const token of rest) {
    const eq = token.text.indexOf("=")
    if (token.text.length === 0) {
      return fail("an empty key=value pair (a stray ',')", { position: token.position - 1, hint: "Remove the extra ','" })
    }
    if (eq <= 0) {
      return fail(eq === 0 ? `a value without a key in "${maskSecrets(token.text)}"` : `"${token.text}" is not key=value`, {
        position: token.position,
        hint: "Settings are written key=value, separated by ','"
      })
    }
    const key = token.text.slice(0, eq)
    const raw = token.text.slice(eq + 1)
    const position = token.position + eq + 1
    if (seen.has(key)) return fail(`the key "${key}" is given twice`, { position: token.position, key })
    seen.add(key)

    const param = GenerateParams.identifierKeys.find((k) => k.key === key)
    if (param !== undefined) {
      const value = typedValue(param.kind, raw)
      if (value === undefined) {
        return fail(`${key} expects ${kindName(param.kind)}, got "${raw}"`, { position, key })
      }
      params[param.field] = value
      continue
    }
    const spec = provider.settings[key] ?? engineSettings[key]
    if (spec === undefined) {
      const known = [
        ...GenerateParams.identifierKeys.map((k) => k.key),
        ...Object.keys(provider.settings),
        ...Object.keys(engineSettings)
      ]
      const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
      return fail(`unknown key "${key}" for provider "${provider.name}"`, {
        position: token.position,
        key,
        hint: known.includes(snake) && snake !== key ? `Did you mean ${snake}?` : `Known keys: ${known.join(", ")}`
      })
    }
    const value = spec.kind === "secret" ? Redacted.make(raw) : typedValue(spec.kind, raw) as SettingValue | undefined
    if (value === undefined) {
      return fail(`${key} expects ${kindName(spec.kind)}, got "${raw}"`, { position, key })
    }
    settings[key] = value
  }
  const decoded = Schema.decodeUnknownResult(GenerateParams.GenerateParams)(params)
  if (Result.isFailure(decoded)) {
    const issue = decoded.failure.message
    const field = Object.keys(params).find((f) => issue.includes(`"${f}"`))
    const key = GenerateParams.identifierKeys.find((k) => k.field === field)?.key
    return fail(key === undefined ? issue : `${key} is out of range: ${issue.split("\n")[0]}`, key === undefined ? {} : { key })
  }
  return Result.succeed(
    withKeyOrder(new Identifier({ provider: provider.name, model, params: decoded.success, settings }), [...seen])
  )
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

/**
 * Parses an identifier against the providers of the current {@link GeneratorRegistry}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Identifier } from "@capstan/core"
 *
 * Effect.runSync(Identifier.parse("mock!echo,max_tokens=100")).params.maxTokens // 100
 * ```
 * @since 0.1.0
 */
export const parse = (text: string): Effect.Effect<Identifier, InvalidIdentifier> =>
  GeneratorRegistry.use((registry) => Effect.fromResult(parseWith(registry.providers)(text)))
