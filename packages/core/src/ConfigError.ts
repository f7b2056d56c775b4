/**
 * Errors of configuration, found before any request: an identifier that cannot be used, parameters out of range,
 * a missing API key.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"

/**
 * A generator identifier that cannot be used: says what is wrong, where, and how to fix it.
 * Secrets in the identifier are masked as `***`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * const error = Effect.runSync(Effect.flip(GeneratorRegistry.parse("mock!echo,temperature=hot")))
 * error.key // "temperature"
 * ```
 * @since 0.1.0
 */
export class InvalidIdentifier extends Schema.TaggedError<InvalidIdentifier>()("InvalidIdentifier", {
  identifier: Schema.String,
  reason: Schema.String,
  position: Schema.optionalKey(Schema.Int),
  key: Schema.optionalKey(Schema.String),
  hint: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const where = this.position === undefined ? "" : ` (at character ${this.position + 1})`
    const hint = this.hint === undefined ? "" : `. ${this.hint}`
    return `Invalid generator identifier "${this.identifier}": ${this.reason}${where}${hint}`
  }
}

/**
 * Generation parameters that fail validation (a negative temperature, `n = 0`, ...).
 *
 * @example
 * ```ts
 * import { InvalidParams } from "@capstan/core"
 *
 * new InvalidParams({ reason: "temperature must be >= 0" }).message
 * ```
 * @since 0.1.0
 */
export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid generation parameters: ${this.reason}`
  }
}

/**
 * No API key was found for a provider.
 *
 * @example
 * ```ts
 * import { MissingApiKey } from "@capstan/core"
 *
 * new MissingApiKey({ provider: "openai", variable: "OPENAI_API_KEY" }).message
 * // "No API key for provider \"openai\": set the OPENAI_API_KEY environment variable, or add api_key=... to the identifier"
 * ```
 * @since 0.1.0
 */
export class MissingApiKey extends Schema.TaggedError<MissingApiKey>()("MissingApiKey", {
  provider: Schema.String,
  variable: Schema.String
}) {
  override get message(): string {
    return `No API key for provider "${this.provider}": set the ${this.variable} environment variable, or add api_key=... to the identifier`
  }
}
