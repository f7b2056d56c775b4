/**
 * Capstan providers: OpenAI (chat, legacy completions, any OpenAI-compatible server), Anthropic, Ollama and
 * vLLM, over the official SDKs. `Providers.layer` registers them all.
 *
 * @since 0.1.0
 */
export * as Anthropic from "./Anthropic.js"
export * as HttpTransport from "./HttpTransport.js"
export * as OpenAI from "./OpenAI.js"
export * as OpenAICompatible from "./OpenAICompatible.js"
export * as Providers from "./Providers.js"
export * as SqliteStore from "./SqliteStore.js"
