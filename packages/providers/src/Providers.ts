/**
 * Every provider of this package, and the Layer that registers them.
 *
 * @since 0.1.0
 */
import { GeneratorRegistry } from "@capstan/core"
import type { Layer } from "effect"
import * as Anthropic from "./Anthropic.js"
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
 * Registers every provider, so `Generator.layer("gpt-4o-mini")` or `Generator.layer("ollama!llama3.1")` just works.
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
export const layer: Layer.Layer<never> = GeneratorRegistry.register(...all)
