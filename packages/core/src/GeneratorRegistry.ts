/**
 * The registry of providers: what `Generator.layer("provider!model")` looks a provider up in, and what identifiers
 * are parsed against.
 *
 * It is a `Context.Reference` whose default holds the built-in offline `mock` provider; provide
 * `GeneratorRegistry.register(...)` (or `Providers.layer` from `@capstan/providers`) to add more.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Result } from "effect"
import { InvalidIdentifier } from "./ConfigError.js"
import * as Identifier from "./Identifier.js"
import type { Provider } from "./internal/generator.js"
import { mockProvider } from "./internal/mock.js"

/**
 * Why a generator could not be built.
 *
 * @since 0.1.0
 */
export type { GeneratorInitError } from "./internal/generator.js"

/**
 * An environment variable a provider reads.
 *
 * @since 0.1.0
 */
export type { EnvVar } from "./internal/generator.js"

/**
 * A provider: how to parse its identifiers and how to build a generator from one. `make` runs in the scope of the
 * generator's Layer, so resources it acquires with `Effect.acquireRelease` are released when that Layer is torn
 * down. The generator it builds is run through the engine by `Generator.layer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generation, GeneratorRegistry, Usage } from "@capstan/core"
 *
 * const shout: GeneratorRegistry.Provider = {
 *   name: "shout",
 *   description: "answers with the last message in capitals",
 *   settings: {},
 *   env: [],
 *   make: (identifier) => Effect.succeed({
 *     identifier,
 *     generate: (request) => Effect.succeed(
 *       Generation.fromTexts([request.messages.at(-1)?.text.toUpperCase() ?? ""], Usage.empty)
 *     )
 *   })
 * }
 * ```
 * @since 0.1.0
 */
export type { Provider } from "./internal/generator.js"

/**
 * The registered providers, latest registration first in lookups.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry: GeneratorRegistry.Registry = yield* GeneratorRegistry.GeneratorRegistry
 *   return registry.providers.map((provider) => provider.name) // ["mock"]
 * })
 * ```
 * @since 0.1.0
 */
export interface Registry {
  readonly providers: ReadonlyArray<Provider>
}

/**
 * The registry in context. Defaults to the built-in providers (`mock`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * const names = Effect.runSync(GeneratorRegistry.names) // ["mock"]
 * ```
 * @since 0.1.0
 */
export const GeneratorRegistry: Context.Reference<Registry> = Context.Reference<Registry>(
  "@capstan/core/GeneratorRegistry",
  { defaultValue: () => ({ providers: [mockProvider] }) }
)

/**
 * Adds providers to the registry in context (a provider with the same name as a registered one replaces it).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 *
 * declare const shout: GeneratorRegistry.Provider
 * const layer = Generator.layer("shout!v1").pipe(Layer.provide(GeneratorRegistry.register(shout)))
 * ```
 * @since 0.1.0
 */
export const register = (...providers: ReadonlyArray<Provider>): Layer.Layer<never> =>
  Layer.effect(
    GeneratorRegistry,
    GeneratorRegistry.use((registry) => Effect.succeed(add(registry, providers)))
  )

/**
 * A registry with providers added (same-name providers replaced).
 *
 * @example
 * ```ts
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * declare const registry: GeneratorRegistry.Registry
 * declare const shout: GeneratorRegistry.Provider
 * GeneratorRegistry.add(registry, [shout]).providers.length
 * ```
 * @since 0.1.0
 */
export const add = (registry: Registry, providers: ReadonlyArray<Provider>): Registry => {
  const names = new Set(providers.map((p) => p.name))
  return { providers: [...registry.providers.filter((p) => !names.has(p.name)), ...providers] }
}

/**
 * The names of the registered providers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * Effect.runSync(GeneratorRegistry.names).includes("mock") // true
 * ```
 * @since 0.1.0
 */
export const names: Effect.Effect<ReadonlyArray<string>> = GeneratorRegistry.useSync((r) =>
  r.providers.map((p) => p.name)
)

/**
 * The registered providers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * Effect.runSync(GeneratorRegistry.providers).map((p) => p.env.map((v) => v.name))
 * ```
 * @since 0.1.0
 */
export const providers: Effect.Effect<ReadonlyArray<Provider>> = GeneratorRegistry.useSync((r) => r.providers)

// The providers `@capstan/providers` registers: an identifier naming one without that package's layer is a
// forgotten `Providers.layer`, not a typo.
const packaged: ReadonlyArray<{ readonly name: string; readonly models?: RegExp }> = [
  { name: "openai", models: /^(?:gpt-|chatgpt-|o[134])/ },
  { name: "anthropic", models: /^claude-/ },
  { name: "ollama" },
  { name: "vllm" }
]

/**
 * Parses an identifier against the given providers, like `Identifier.parseWith`; when it names (or its model
 * implies) a provider of `@capstan/providers` that is not registered, the error says to provide `Providers.layer`.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * const result = GeneratorRegistry.parseWith([])("openai!gpt-4o-mini")
 * Result.isFailure(result) && result.failure.hint // "Provide Providers.layer from @capstan/providers, ..."
 * ```
 * @since 0.2.0
 */
export const parseWith =
  (known: ReadonlyArray<Identifier.ProviderSyntax>) =>
  (text: string): Result.Result<Identifier.Identifier, InvalidIdentifier> => {
    const parsed = Identifier.parseWith(known)(text)
    if (Result.isSuccess(parsed)) return parsed
    const error = parsed.failure
    const head = text.split(",", 1)[0] ?? ""
    const bang = head.indexOf("!")
    const named = bang > 0 ? head.slice(0, bang) : undefined
    const model = bang > 0 ? head.slice(bang + 1) : head
    const missing = packaged.find((p) =>
      !known.some((k) => k.name === p.name) && (named === undefined ? p.models?.test(model) === true : named === p.name)
    )
    if (missing === undefined || !/unknown provider|no provider is known/.test(error.reason)) return parsed
    return Result.fail(
      new InvalidIdentifier({
        identifier: error.identifier,
        reason: error.reason,
        ...(error.position === undefined ? {} : { position: error.position }),
        hint:
          `Provide Providers.layer from @capstan/providers, which registers "${missing.name}" (e.g. Layer.provide(Providers.layer))`
      })
    )
  }

/**
 * Parses an identifier against the providers of the registry in context (see {@link parseWith}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GeneratorRegistry } from "@capstan/core"
 *
 * Effect.runSync(GeneratorRegistry.parse("mock!echo,max_tokens=100")).params.maxTokens // 100
 * ```
 * @since 0.2.0
 */
export const parse = (text: string): Effect.Effect<Identifier.Identifier, InvalidIdentifier> =>
  GeneratorRegistry.use((registry) => Effect.fromResult(parseWith(registry.providers)(text)))
