/**
 * The error of a response cache's store: it could not be opened, read or written.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"

/**
 * A response cache's store could not be opened, read or written: which store (a file, a server, a store id), what
 * was being done and why. A cached generator does not fail its request for it: a read that fails is a miss (the
 * request is sent) and a write that fails loses that entry only; both are logged as warnings with this message.
 * Opening a store that cannot be opened fails the layer that builds it.
 *
 * @example
 * ```ts
 * import { ResponseCacheError } from "@capstan/core"
 *
 * new ResponseCacheError({ operation: "open", store: "/tmp/responses.sqlite", reason: "permission denied" }).message
 * // "Response cache: cannot open /tmp/responses.sqlite: permission denied. Check that ..."
 * ```
 * @since 0.3.0
 */
export class ResponseCacheError extends Schema.TaggedError<ResponseCacheError>()("ResponseCacheError", {
  operation: Schema.Literals(["open", "read", "write"]),
  /** The store: a file path, a server address (without credentials) or a store id. */
  store: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    const fix = this.operation === "open"
      ? "Check that its directory exists and is writable (or choose another file), or run with the cache off"
      : "Check that the store is reachable and has room; the cache goes on without this entry"
    return `Response cache: cannot ${this.operation} ${this.store}: ${this.reason}. ${fix}`
  }
}
