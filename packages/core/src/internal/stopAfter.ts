/**
 * A batch that stops sending when every request would fail: after a number of items in a row failed the same way
 * with an error that says nothing about the item (a refused key, an exhausted quota, an unknown model), the rows
 * stream ends with `BatchStopped`, interrupting the items in flight.
 *
 * @internal
 */
import { Stream } from "effect"
import { failsEveryRequest, type GenerationError } from "../GenerationError.js"
import { BatchStopped, type ChatError } from "../PipelineError.js"

const sameFailure = (a: GenerationError, b: GenerationError): boolean =>
  a._tag === b._tag && ("status" in a ? a.status : undefined) === ("status" in b ? b.status : undefined)

/**
 * The rows of each item as they complete, ending after `after` items in a row failed the same way with an error
 * every request would meet: ending the stream interrupts the items still in flight, so no more are sent.
 */
export const stopping = <Row extends { readonly error?: ChatError | undefined }, E, R>(
  perItem: Stream.Stream<ReadonlyArray<Row>, E, R>,
  after: number
): Stream.Stream<Row, E | BatchStopped, R> =>
  Stream.suspend(() => {
    let streak = 0
    let last: GenerationError | undefined
    const tripped = (rows: ReadonlyArray<Row>): boolean => {
      const error = rows[0]?.error
      if (error === undefined || !failsEveryRequest(error)) {
        streak = 0
        last = undefined
        return false
      }
      streak = last !== undefined && sameFailure(last, error) ? streak + 1 : 1
      last = error
      return streak >= after
    }
    return perItem.pipe(
      Stream.takeUntil(tripped),
      Stream.flattenIterable,
      Stream.concat(Stream.suspend(() =>
        last !== undefined && streak >= after
          ? Stream.fail(new BatchStopped({ consecutive: streak, error: last }))
          : Stream.empty
      ))
    )
  })
