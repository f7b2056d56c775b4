/**
 * Capstan: Effect-native LLM pipelines and very large batches of LLM calls.
 *
 * @since 0.1.0
 */
export * as Batch from "./Batch.js"
export * as Chat from "./Chat.js"
export * as ChatPipeline from "./ChatPipeline.js"
export * as CompletionPipeline from "./CompletionPipeline.js"
export * as Dataset from "./Dataset.js"
export * as Engine from "./Engine.js"
export * from "./Errors.js"
export * as Extraction from "./Extraction.js"
export * as GenerateParams from "./GenerateParams.js"
export * as Generation from "./Generation.js"
export * as Generator from "./Generator.js"
export * as GeneratorRegistry from "./GeneratorRegistry.js"
export * as Identifier from "./Identifier.js"
export * as Message from "./Message.js"
export * as Model from "./Model.js"
export * as Pipeline from "./Pipeline.js"
export * as Prices from "./Prices.js"
export * as ProviderBatch from "./ProviderBatch.js"
export * as RateLimiter from "./RateLimiter.js"
export * as ResponseCache from "./ResponseCache.js"
export * as RetryPolicy from "./RetryPolicy.js"
export * as Secrets from "./Secrets.js"
export * as Template from "./Template.js"
export * as Usage from "./Usage.js"
