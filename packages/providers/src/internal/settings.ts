/**
 * Reading a provider's settings: the identifier first, then the environment through `Config` (so tests and
 * applications choose the `ConfigProvider`), keys held as `Redacted` throughout.
 *
 * @internal
 */
import { Identifier, InvalidIdentifier, MissingApiKey, Secrets } from "@capstan/core"
import { Config, Effect, Option, Redacted } from "effect"

const nonEmpty = (value: string): boolean => value.trim().length > 0

/**
 * A string setting: `key=...` in the identifier, else the environment variable, else `undefined`.
 * A variable that cannot be read counts as unset.
 */
export const stringSetting = (
  identifier: Identifier.Identifier,
  key: string,
  variable?: string
): Effect.Effect<string | undefined> => {
  const value = identifier.setting(key)
  if (value !== undefined) return Effect.succeed(Redacted.isRedacted(value) ? Redacted.value(value) : String(value))
  if (variable === undefined) return Effect.undefined
  return Config.option(Config.String(variable)).pipe(
    Effect.map((found) => Option.getOrUndefined(Option.filter(found, nonEmpty))),
    Effect.orElseSucceed(() => undefined)
  )
}

/**
 * The API key: `api_key=...` in the identifier, else the environment variable. Without either, fails with
 * `MissingApiKey` naming the variable, or uses `placeholder` for servers that need no key (Ollama, vLLM).
 */
export const apiKey = (
  identifier: Identifier.Identifier,
  options: { readonly provider: string; readonly variable: string; readonly placeholder?: string }
): Effect.Effect<Redacted.Redacted<string>, MissingApiKey> => {
  const value = identifier.setting("api_key")
  if (value !== undefined) {
    return Effect.succeed(
      Redacted.isRedacted(value) ? value : Redacted.make(String(value))
    )
  }
  return Config.option(Config.Redacted(options.variable)).pipe(
    Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>()),
    Effect.flatMap((found) => {
      const key = Option.filter(found, (k) => nonEmpty(Redacted.value(k)))
      if (Option.isSome(key)) return Effect.succeed(key.value)
      return options.placeholder === undefined
        ? Effect.fail(new MissingApiKey({ provider: options.provider, variable: options.variable }))
        : Effect.succeed(Redacted.make(options.placeholder))
    })
  )
}

/**
 * Validates a base URL (http or https) and trims trailing slashes. With `apiPath`, a URL that names no path
 * (`http://localhost:11434`) gets it appended: OpenAI-compatible servers serve their API under `/v1`.
 */
export const baseUrl = (
  identifier: Identifier.Identifier,
  url: string,
  options?: { readonly apiPath?: string }
): Effect.Effect<string, InvalidIdentifier> => {
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    return Effect.fail(
      new InvalidIdentifier({
        identifier: Identifier.format(identifier),
        reason: `base_url "${Secrets.mask(url)}" is not an http(s) URL`,
        key: "base_url",
        hint: `Write base_url=http://host:port${options?.apiPath ?? ""}`
      })
    )
  }
  const trimmed = url.replace(/\/+$/, "")
  const bare = parsed.pathname === "/" || parsed.pathname === ""
  return Effect.succeed(bare && options?.apiPath !== undefined ? `${trimmed}${options.apiPath}` : trimmed)
}
