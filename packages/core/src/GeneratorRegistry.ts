/**
 * The registry of providers: what `Generator.layer("provider!model")` looks a provider up in.
 *
 * It is a `Context.Reference` whose default holds the built-in offline `mock` provider; provide
 * `GeneratorRegistry.register(...)` (or `Providers.layer` from `@capstan/providers`) to add more.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type * as Scope from "effect/Scope"
import type { InvalidIdentifier, InvalidParams, MissingApiKey } from "./Errors.js"
import type { Service as GeneratorService } from "./Generator.js"
import type { Identifier, ProviderSyntax } from "./Identifier.js"
import { mockProvider } from "./internal/mock.js"

/**
 * Why a generator could not be built.
 *
 * @since 0.1.0
 */
export type GeneratorInitError = InvalidIdentifier | InvalidParams | MissingApiKey

/**
 * An environment variable a provider reads.
 *
 * @since 0.1.0
 */
export interface EnvVar {
  readonly name: string
  readonly description: string
}

/**
 * A provider: how to parse its identifiers and how to build a generator from one. `make` runs in the scope
 * of the generator's Layer, so resources it acquires with `Effect.acquireRelease` are released when that
 * Layer is torn down.
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
 *       Generation.fromTexts([request.messages.at(-1)?.content.toUpperCase() ?? ""], Usage.empty)
 *     ),
 *     complete: (request) => Effect.succeed(Generation.fromTexts([request.prompt.toUpperCase()], Usage.empty))
 *   })
 * }
 * ```
 * @since 0.1.0
 */
export interface Provider extends ProviderSyntax {
  readonly description: string
  readonly env: ReadonlyArray<EnvVar>
  readonly make: (identifier: Identifier) => Effect.Effect<GeneratorService, GeneratorInitError, Scope.Scope>
}

/**
 * The registered providers, latest registration first in lookups.
 *
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
export const names: Effect.Effect<ReadonlyArray<string>> = GeneratorRegistry.useSync((r) => r.providers.map((p) => p.name))

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
