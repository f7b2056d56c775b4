/**
 * A pipeline run whose generations stream: the run is the very run of `ChatPipeline.run`, with the generator in
 * context swapped for one whose `generate` streams (through the generator's own `stream`) and hands each text delta
 * on as it arrives. So every request of the run streams (a parse retry's, an `andThen` step's), and the finished
 * chat is exactly what `run` gives.
 *
 * @internal
 */
import { type Cause, Effect, Queue, Stream } from "effect"
import type * as Chat from "../Chat.js"
import type { Generation } from "../Generation.js"
import { type GenerationError, MalformedResponse, Unsupported } from "../GenerationError.js"
import * as Generator from "./generator.js"

/**
 * What a streamed run emits: the text of its requests as it arrives (`request` counts the run's requests from 0,
 * `index` is the choice), then, last, the finished chat.
 */
export type StreamEvent<A> =
  | { readonly _tag: "Delta"; readonly request: number; readonly index: number; readonly text: string }
  | { readonly _tag: "Done"; readonly chat: Chat.Chat<A> }

/** The run `run` (which reads the generator in context) with its generations streamed. */
export const streamRun = <A, E, R>(
  run: Effect.Effect<Chat.Chat<A>, E, R>
): Stream.Stream<StreamEvent<A>, E | GenerationError, R | Generator.Generator> =>
  Stream.unwrap(Generator.Generator.useSync((generator) => {
    const stream = generator.stream
    if (stream === undefined) {
      return Stream.fail(
        new Unsupported({
          provider: generator.identifier.provider,
          detail: `${generator.identifier.model} has no streaming; run the pipeline with ChatPipeline.run`
        })
      )
    }
    return Stream.callback<StreamEvent<A>, E | GenerationError, Exclude<R, Generator.Generator>>((queue) => {
      let requests = 0
      const streaming: Generator.Service = {
        ...generator,
        generate: (request) =>
          Effect.suspend(() => {
            const number = requests++
            let done: Generation | undefined
            return stream(request).pipe(
              Stream.runForEach((part) => {
                if (part._tag === "Done") {
                  done = part.generation
                  return Effect.void
                }
                return Queue.offer(queue, { _tag: "Delta", request: number, index: part.index, text: part.text })
              }),
              Effect.flatMap(() =>
                done === undefined
                  ? Effect.fail(
                    new MalformedResponse({
                      provider: generator.identifier.provider,
                      detail: "the stream ended without its generation"
                    })
                  )
                  : Effect.succeed(done)
              )
            )
          })
      }
      return run.pipe(
        Effect.provideService(Generator.Generator, streaming),
        Effect.matchCauseEffect({
          onSuccess: (chat) => Effect.andThen(Queue.offer(queue, { _tag: "Done", chat }), Queue.end(queue)),
          onFailure: (cause) => Queue.failCause(queue, cause as Cause.Cause<E | GenerationError>)
        })
      )
    })
  }))
