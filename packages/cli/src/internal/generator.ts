/**
 * Which generator a command uses, with the settings and params its flags add.
 *
 * @internal
 */
import { GenerateParams, GeneratorRegistry, Identifier, type InvalidIdentifier } from "@capstan/core"
import { Config, Effect, Option } from "effect"
import { NoGenerator } from "../Errors.js"

/**
 * Runs `effect` with every provider registered. The providers are loaded on first use: their SDKs are most of
 * the start-up time, and `--help`, bad input or a dry run without a generator never need them.
 */
export const withProviders = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.promise(() => import("@capstan/providers")),
    ({ Providers }) => Effect.provide(effect, Providers.layer)
  )

/**
 * The model used when a provider is chosen only because its key is set. Providers not listed here (local
 * servers, the offline mock) are never chosen implicitly.
 */
export const defaultModels: ReadonlyArray<{ readonly provider: string; readonly model: string }> = [
  { provider: "openai", model: "gpt-4o-mini" },
  { provider: "anthropic", model: "claude-3-5-haiku-latest" }
]

const keyVariable = (provider: GeneratorRegistry.Provider): string | undefined =>
  provider.env.find((variable) => variable.name.endsWith("_API_KEY"))?.name

const nonEmpty = (name: string): Effect.Effect<Option.Option<string>> =>
  Config.String(name).pipe(
    Config.option,
    Effect.map(Option.filter((value) => value.trim().length > 0)),
    Effect.orElseSucceed(() => Option.none<string>())
  )

/** Whether an environment variable is set to something (its value is not kept). */
export const isSet = (name: string): Effect.Effect<boolean> => Effect.map(nonEmpty(name), Option.isSome)

/**
 * The generator identifier to use: `--generator`, else `CAPSTAN_GENERATOR`, else the default model of the first
 * provider whose API key is set. Fails with {@link NoGenerator} when there is none.
 */
export const choose = (flag: Option.Option<string>): Effect.Effect<string, NoGenerator> =>
  Effect.gen(function*() {
    if (Option.isSome(flag)) return flag.value
    const fromEnv = yield* nonEmpty("CAPSTAN_GENERATOR")
    if (Option.isSome(fromEnv)) return fromEnv.value
    const providers = yield* GeneratorRegistry.providers
    const keys: Array<string> = []
    for (const { model, provider: name } of defaultModels) {
      const provider = providers.find((p) => p.name === name)
      const variable = provider === undefined ? undefined : keyVariable(provider)
      if (variable === undefined) continue
      if (yield* isSet(variable)) return `${name}!${model}`
      keys.push(variable)
    }
    const [first] = defaultModels
    return yield* new NoGenerator({
      keys,
      example: first === undefined ? "mock!echo" : `${first.provider}!${first.model}`
    })
  })

/**
 * Parses the chosen identifier and applies `key=value` overrides from flags (`--param temperature=0`,
 * `--rpm 600`, ...), typed and checked by the same parser as the identifier itself. Nothing is concatenated to
 * the user's identifier text, so secrets in it are never re-parsed or echoed.
 */
export const resolve = (
  text: string,
  overrides: Readonly<Record<string, string | number>>
): Effect.Effect<Identifier.Identifier, InvalidIdentifier> =>
  Effect.gen(function*() {
    const identifier = yield* GeneratorRegistry.parse(text)
    const pairs = Object.entries(overrides)
    if (pairs.length === 0) return identifier
    const extra = yield* GeneratorRegistry.parse(
      [`${identifier.provider}!${identifier.model}`, ...pairs.map(([key, value]) => `${key}=${value}`)].join(",")
    )
    return Identifier.make({
      provider: identifier.provider,
      model: identifier.model,
      params: GenerateParams.merge(identifier.params, extra.params),
      settings: { ...identifier.settings, ...extra.settings }
    })
  })

/** Choices per item: `n` of the identifier's params (a batch writes one row per choice). */
export const choicesOf = (identifier: Identifier.Identifier): number => identifier.params.n ?? 1
