/**
 * Sampling and request parameters shared by every provider.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { dual } from "effect/Function"
import { Positive, PositiveInt } from "./internal/numbers.js"

const between = (minimum: number, maximum: number) => Schema.Finite.check(Schema.isBetween({ minimum, maximum }))

/**
 * Options for one provider: body fields its API takes that Capstan has no param for (`user`, `top_k`,
 * `service_tier`, ...), passed through as they are.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * const anthropic: GenerateParams.ProviderOptions = { top_k: 40 }
 * GenerateParams.make({ providerOptions: { anthropic } })
 * ```
 * @since 0.2.0
 */
export const ProviderOptions = Schema.Record(Schema.String, Schema.Json)

/**
 * @since 0.2.0
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * Generation parameters. Every field is optional: an unset field means "the provider's default".
 * `timeout` is in seconds. Values are checked against the ranges providers accept: `temperature` 0 to 2, `topP`
 * 0 to 1, the penalties -2 to 2, `maxTokens` and `n` 1 or more, `topLogprobs` 0 to 20, `timeout` above 0.
 *
 * `logprobs: true` asks for the log probability of each generated token (on each choice's `logprobs`);
 * `topLogprobs: k` also asks for the k likeliest alternatives at each position, and implies `logprobs`.
 *
 * `providerOptions` holds body fields per provider name (`{ openai: { user: "u-1" }, anthropic: { top_k: 5 } }`):
 * each provider sends only its own entry, so one set of params can serve several providers. It is set from code
 * only (an identifier has no key for it). A param a provider does not take is not sent, and the generation says
 * so in its `warnings`.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * const p = new GenerateParams.GenerateParams({
 *   temperature: 0.2,
 *   maxTokens: 256,
 *   stop: ["\n\n"],
 *   providerOptions: { anthropic: { top_k: 40 } }
 * })
 * p.temperature // 0.2
 * ```
 * @since 0.1.0
 */
export class GenerateParams extends Schema.Class<GenerateParams>("@capstan/core/GenerateParams")({
  temperature: Schema.optionalKey(between(0, 2)),
  maxTokens: Schema.optionalKey(PositiveInt),
  topP: Schema.optionalKey(between(0, 1)),
  stop: Schema.optionalKey(Schema.Array(Schema.String)),
  seed: Schema.optionalKey(Schema.Int),
  presencePenalty: Schema.optionalKey(between(-2, 2)),
  frequencyPenalty: Schema.optionalKey(between(-2, 2)),
  n: Schema.optionalKey(PositiveInt),
  logprobs: Schema.optionalKey(Schema.Boolean),
  topLogprobs: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 }))),
  timeout: Schema.optionalKey(Positive),
  providerOptions: Schema.optionalKey(Schema.Record(Schema.String, ProviderOptions))
}) {}

/**
 * The fields of {@link GenerateParams}, as passed to its constructor.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * const fields: GenerateParams.Fields = { temperature: 0, maxTokens: 64 }
 * GenerateParams.make(fields).maxTokens // 64
 * ```
 * @since 0.1.0
 */
export type Fields = NonNullable<ConstructorParameters<typeof GenerateParams>[0]>

/**
 * Parameters with nothing set.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * Object.keys(GenerateParams.empty).length // 0
 * ```
 * @since 0.1.0
 */
export const empty: GenerateParams = new GenerateParams({})

/**
 * Builds parameters from a plain object, validating every field.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * GenerateParams.make({ temperature: 0.5 }).temperature // 0.5
 * ```
 * @since 0.1.0
 */
export const make = (fields: Fields): GenerateParams =>
  fields instanceof GenerateParams ? fields : new GenerateParams(fields)

/**
 * Merges two parameter sets: every field set in `override` wins, and an unset field never erases one set
 * in `base`. `providerOptions` is merged per provider and key by key, with the same rule.
 *
 * @example
 * ```ts
 * import { pipe } from "effect"
 * import { GenerateParams } from "@capstan/core"
 *
 * const base = GenerateParams.make({ temperature: 0.1, maxTokens: 100 })
 * const merged = GenerateParams.merge(base, GenerateParams.make({ temperature: 0.9 }))
 * merged.temperature // 0.9
 * merged.maxTokens   // 100
 * pipe(base, GenerateParams.merge({ seed: 7 })).seed // 7
 *
 * const a = GenerateParams.make({ providerOptions: { openai: { user: "u-1", store: true } } })
 * GenerateParams.merge(a, { providerOptions: { openai: { user: "u-2" } } }).providerOptions
 * // { openai: { user: "u-2", store: true } }
 * ```
 * @since 0.1.0
 */
export const merge: {
  (override: GenerateParams | Fields): (base: GenerateParams) => GenerateParams
  (base: GenerateParams, override: GenerateParams | Fields): GenerateParams
} = dual(2, (base: GenerateParams, override: GenerateParams | Fields): GenerateParams => {
  // Merging nothing is the common case of every batch item: keep the same object (and skip re-validation).
  if (isUnset(override)) return base
  if (override instanceof GenerateParams && isUnset(base)) return override
  const fields: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(override)) {
    if (value !== undefined && key !== "providerOptions") fields[key] = value
  }
  if (override.providerOptions !== undefined) {
    // The constructor checks the merged options (fields given as plain objects are not checked yet).
    fields.providerOptions = mergeProviderOptions(
      base.providerOptions ?? {},
      override.providerOptions as Readonly<Record<string, ProviderOptions>>
    )
  }
  return new GenerateParams(fields)
})

const mergeProviderOptions = (
  base: Readonly<Record<string, ProviderOptions>>,
  override: Readonly<Record<string, ProviderOptions>>
): Record<string, ProviderOptions> => {
  const merged: Record<string, ProviderOptions> = { ...base }
  for (const [provider, options] of Object.entries(override)) {
    if (options !== undefined) merged[provider] = { ...base[provider], ...options }
  }
  return merged
}

/**
 * The provider options a provider sends: the entries of `names` merged in order, key by key (a later name wins).
 * A provider that speaks another's wire format reads that one's entry first, then its own.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * const p = GenerateParams.make({ providerOptions: { openai: { user: "u-1" }, vllm: { top_k: 20 }, anthropic: { top_k: 5 } } })
 * GenerateParams.optionsFor(p, ["openai", "vllm"]) // { user: "u-1", top_k: 20 }
 * GenerateParams.optionsFor(["anthropic"])(p)       // { top_k: 5 }
 * ```
 * @since 0.2.0
 */
export const optionsFor: {
  (names: ReadonlyArray<string>): (params: GenerateParams) => ProviderOptions
  (params: GenerateParams, names: ReadonlyArray<string>): ProviderOptions
} = dual(2, (params: GenerateParams, names: ReadonlyArray<string>): ProviderOptions => {
  const all = params.providerOptions
  if (all === undefined) return {}
  let options: ProviderOptions = {}
  for (const name of names) {
    const entry = all[name]
    if (entry !== undefined) options = names.length === 1 ? entry : { ...options, ...entry }
  }
  return options
})

const isUnset = (params: GenerateParams | Fields): boolean => {
  for (const key of Object.keys(params)) if ((params as Record<string, unknown>)[key] !== undefined) return false
  return true
}

/**
 * True when no field is set.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * GenerateParams.isEmpty(GenerateParams.empty) // true
 * ```
 * @since 0.1.0
 */
export const isEmpty = (params: GenerateParams): boolean => isUnset(params)

/**
 * How a parameter is written in a generator identifier. `providerOptions` has no key: it is set from code.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * const usage = (k: GenerateParams.IdentifierKey) => `${k.key}=<${k.kind}>`
 * GenerateParams.identifierKeys.map(usage) // ["temperature=<float>", "max_tokens=<int>", ...]
 * ```
 * @since 0.1.0
 */
export interface IdentifierKey {
  readonly key: string
  readonly field: Exclude<keyof Fields, "providerOptions">
  readonly kind: "int" | "float" | "bool" | "list"
}

/**
 * The identifier keys of the parameters (`max_tokens=100`, `stop=a;b`), in the order they are printed.
 *
 * @example
 * ```ts
 * import { GenerateParams } from "@capstan/core"
 *
 * GenerateParams.identifierKeys.find((k) => k.key === "max_tokens")?.field // "maxTokens"
 * ```
 * @since 0.1.0
 */
export const identifierKeys: ReadonlyArray<IdentifierKey> = [
  { key: "temperature", field: "temperature", kind: "float" },
  { key: "max_tokens", field: "maxTokens", kind: "int" },
  { key: "top_p", field: "topP", kind: "float" },
  { key: "stop", field: "stop", kind: "list" },
  { key: "seed", field: "seed", kind: "int" },
  { key: "presence_penalty", field: "presencePenalty", kind: "float" },
  { key: "frequency_penalty", field: "frequencyPenalty", kind: "float" },
  { key: "n", field: "n", kind: "int" },
  { key: "logprobs", field: "logprobs", kind: "bool" },
  { key: "top_logprobs", field: "topLogprobs", kind: "int" },
  { key: "timeout", field: "timeout", kind: "float" }
]
