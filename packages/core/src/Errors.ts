/**
 * Every typed error of `@capstan/core`, from the modules that define them. Every error is a `Schema.TaggedError`,
 * so a failed chat or result row encodes its error to JSON and decodes it back (all but `ItemFailed`, which wraps
 * the caller's own errors).
 *
 * @since 0.1.0
 */
export * from "./ConfigError.js"
export * from "./GenerationError.js"
export * from "./PipelineError.js"
export * from "./ResponseCacheError.js"
export * from "./TemplateError.js"
