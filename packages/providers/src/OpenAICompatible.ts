/**
 * Local and self-hosted OpenAI-compatible servers, through the `openai` SDK: Ollama and vLLM. Any other
 * compatible server is reachable as `openai!<model>,base_url=...`.
 *
 * They read `max_tokens` (not OpenAI's newer `max_completion_tokens`) and need no API key unless the server was
 * started with one. They send the `openai` entry of `params.providerOptions` with their own (`ollama`, `vllm`) over
 * it. Ollama reads images as bytes only and ignores `n`: an image by URL is refused before the request, and the
 * batch engine asks it for one choice per request.
 *
 * @since 0.1.0
 */
import {
  type Generator,
  type GeneratorRegistry,
  Identifier,
  InvalidIdentifier,
  type MissingApiKey
} from "@capstan/core"
import { Effect, type Scope } from "effect"
import { apiKey, baseUrl, stringSetting } from "./internal/settings.js"
import { type ClientOptions, makeGenerator } from "./OpenAI.js"

/**
 * Ollama's address when neither `base_url=` nor `OLLAMA_API_BASE` names one.
 *
 * @example
 * ```ts
 * import { OpenAICompatible } from "@capstan/providers"
 *
 * OpenAICompatible.defaultOllamaBase // "http://localhost:11434"
 * ```
 * @since 0.1.0
 */
export const defaultOllamaBase = "http://localhost:11434"

const settings = {
  api_key: { kind: "secret", description: "the API key, if the server requires one" },
  base_url: { kind: "string", description: "the server's API root, e.g. http://localhost:8000/v1" }
} as const

/** A generator for the compatible server at `base` (`/v1` appended to a bare host), with its key or a placeholder. */
const compatibleGenerator = (
  identifier: Identifier.Identifier,
  base: string,
  key: { readonly provider: string; readonly variable: string; readonly placeholder: string },
  limits: Pick<ClientOptions, "imageUrls" | "maxChoices" | "maxPromptsPerRequest"> = {}
): Effect.Effect<Generator.Service, MissingApiKey | InvalidIdentifier, Scope.Scope> =>
  Effect.gen(function*() {
    return yield* makeGenerator(identifier, {
      apiKey: yield* apiKey(identifier, key),
      baseURL: yield* baseUrl(identifier, base, { apiPath: "/v1" }),
      maxTokensField: "max_tokens",
      ...limits
    })
  })

/**
 * The `ollama` provider: `ollama!llama3.1`. The server is `base_url=`, else `OLLAMA_API_BASE`, else
 * `http://localhost:11434` (`/v1` is appended to a bare host).
 *
 * @example
 * ```ts
 * import { Effect, type Scope } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 * import { OpenAICompatible } from "@capstan/providers"
 *
 * const chat = Generator.chat("Hello").pipe(
 *   Effect.provide(Generator.layer("ollama!llama3.1,temperature=0")),
 *   Effect.provide(GeneratorRegistry.register(OpenAICompatible.ollama))
 * )
 * ```
 * @since 0.1.0
 */
export const ollama: GeneratorRegistry.Provider = {
  name: "ollama",
  description: `Ollama's OpenAI-compatible API (OLLAMA_API_BASE, default ${defaultOllamaBase})`,
  settings,
  env: [
    { name: "OLLAMA_API_BASE", description: `address of the Ollama server (default ${defaultOllamaBase})` },
    { name: "OLLAMA_API_KEY", description: "API key, if the Ollama server sits behind an authenticating proxy" }
  ],
  make: (identifier) =>
    Effect.gen(function*() {
      const base = (yield* stringSetting(identifier, "base_url", "OLLAMA_API_BASE")) ?? defaultOllamaBase
      return yield* compatibleGenerator(identifier, base, {
        provider: "ollama",
        variable: "OLLAMA_API_KEY",
        placeholder: "ollama"
      }, { imageUrls: false, maxChoices: 1, maxPromptsPerRequest: 1 })
    })
}

/**
 * The `vllm` provider: `vllm!<model>,base_url=http://host:8000/v1` (or `VLLM_API_BASE`). A key is sent only
 * when given (`api_key=` or `VLLM_API_KEY`, for a server started with `--api-key`).
 *
 * @example
 * ```ts
 * import { Effect, type Scope } from "effect"
 * import { Generator, GeneratorRegistry } from "@capstan/core"
 * import { OpenAICompatible } from "@capstan/providers"
 *
 * const chat = Generator.chat("Hello").pipe(
 *   Effect.provide(Generator.layer("vllm!meta-llama/Llama-3.1-8B-Instruct,base_url=http://gpu-1:8000/v1")),
 *   Effect.provide(GeneratorRegistry.register(OpenAICompatible.vllm))
 * )
 * ```
 * @since 0.1.0
 */
export const vllm: GeneratorRegistry.Provider = {
  name: "vllm",
  description: "a vLLM server's OpenAI-compatible API (base_url=... or VLLM_API_BASE)",
  settings,
  env: [
    { name: "VLLM_API_BASE", description: "API root of the vLLM server, e.g. http://localhost:8000/v1" },
    { name: "VLLM_API_KEY", description: "API key of the vLLM server, if it was started with --api-key" }
  ],
  make: (identifier) =>
    Effect.gen(function*() {
      const base = yield* stringSetting(identifier, "base_url", "VLLM_API_BASE")
      if (base === undefined) {
        return yield* new InvalidIdentifier({
          identifier: Identifier.format(identifier),
          reason: "the vllm provider needs the server's address",
          key: "base_url",
          hint: `Write vllm!${identifier.model},base_url=http://host:8000/v1, or set VLLM_API_BASE`
        })
      }
      return yield* compatibleGenerator(identifier, base, {
        provider: "vllm",
        variable: "VLLM_API_KEY",
        placeholder: "EMPTY"
      })
    })
}
