/**
 * The public pipeline types over the internal pipeline value: the casts between them (one value, two views) and
 * the test `dual` uses to tell a data-first call.
 *
 * @internal
 */
import type { Kind, Pipeline } from "../Pipeline.js"
import * as internal from "./pipeline.js"

export const kindFirst = (args: IArguments) => internal.isPipeline(args[0])

export const impl = (self: Pipeline<Kind, unknown, unknown, unknown>): internal.Pipeline =>
  self as unknown as internal.Pipeline

export const toPublic = <K extends Kind, A, E, R>(pipeline: internal.Pipeline): Pipeline<K, A, E, R> =>
  pipeline as unknown as Pipeline<K, A, E, R>
