/**
 * Every provider of this package, and the Layer that registers them.
 *
 * @since 0.1.0
 */
import { GeneratorRegistry } from "@capstan/core"
import { Layer } from "effect"
import * as Anthropic from "./Anthropic.js"
import * as HttpTransport from "./HttpTransport.js"
import * as OpenAI from "./OpenAI.js"
import * as OpenAICompatible from "./OpenAICompatible.js"

/**
 * The providers: `openai`, `anthropic`, `ollama`, `vllm`.
 *
 * @example
 * ```ts
 * import { Providers } from "@capstan/providers"
 *
 * Providers.all.map((p) => p.name) // ["openai", "anthropic", "ollama", "vllm"]
 * ```
 * @since 0.1.0
 */
export const all: ReadonlyArray<GeneratorRegistry.Provider> = [
  OpenAI.provider,
  Anthropic.provider,
  OpenAICompatible.ollama,
  OpenAICompatible.vllm
]

/**
 * {@link layer} with a transport of other limits.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Generator } from "@capstan/core"
 * import { Providers } from "@capstan/providers"
 *
 * const generator = Generator.layer("gpt-4o-mini").pipe(
 *   Layer.provide(Providers.layerWith({ maxBodyBytes: 256 * 1024 * 1024, maxDecodedBytes: 1024 * 1024 * 1024 }))
 * )
 * ```
 * @since 0.2.0
 */
export const layerWith = (options: HttpTransport.Options): Layer.Layer<never> =>
  Layer.mergeAll(GeneratorRegistry.register(...all), HttpTransport.layer(options))

/**
 * Registers every provider, so `Generator.layer("gpt-4o-mini")` or `Generator.layer("ollama!llama3.1")` just works,
 * and provides one `HttpTransport` for all their generators: they share its connections, and its keep-alive
 * agents are destroyed once this Layer's scope and those of the generators built under it have closed.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Generator } from "@capstan/core"
 * import { Providers } from "@capstan/providers"
 *
 * const chat = Generator.chat("Hello").pipe(
 *   Effect.provide(Generator.layer("gpt-4o-mini")),
 *   Effect.provide(Providers.layer)
 * )
 * ```
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = layerWith({})
