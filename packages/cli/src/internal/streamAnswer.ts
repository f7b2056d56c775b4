/**
 * `capstan run`'s answer as it arrives: the text written to standard output delta by delta, a newline at the end.
 *
 * @internal
 */
import { ChatPipeline, Generator, type Message } from "@capstan/core"
import { Console, Effect, Option, Stdio, Stream } from "effect"
import { ItemsFailed } from "../Errors.js"

/**
 * Whether a run streams: `--stream` / `--no-stream` when given, else when standard output is a terminal (someone
 * watching), and only when the generator can.
 */
export const streams = (
  flag: Option.Option<boolean>
): Effect.Effect<boolean, never, Stdio.Stdio | Generator.Generator> =>
  Effect.gen(function*() {
    const wanted = Option.isSome(flag) ? flag.value : yield* (yield* Stdio.Stdio).stdoutIsTerminal
    return wanted && (yield* Generator.Generator.useSync((generator) => generator.stream !== undefined))
  })

/**
 * Streams the answer to `messages` to standard output. A failure (after whatever text came) is printed to standard
 * error, as an unstreamed run prints it, and fails the command with {@link ItemsFailed}.
 */
export const streamAnswer = (
  messages: ReadonlyArray<Message.Message>
): Effect.Effect<void, ItemsFailed, Stdio.Stdio | Generator.Generator> =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    let open = false
    const text = ChatPipeline.make(messages).pipe(
      ChatPipeline.runStream(),
      // The first choice only: `n` > 1 would interleave the others.
      Stream.map((event) => event._tag === "Done" ? "\n" : event.index === 0 ? event.text : ""),
      Stream.filter((piece) => piece.length > 0),
      Stream.tap(() => Effect.sync(() => void (open = true)))
    )
    const failed = yield* text.pipe(
      Stream.run(stdio.stdout({ endOnDone: false })),
      Effect.as(false),
      Effect.catch((error) =>
        // Ends the line the text left open, so the error starts on its own.
        Effect.as(
          Effect.andThen(
            open ? Stream.make("\n").pipe(Stream.run(stdio.stdout({ endOnDone: false })), Effect.ignore) : Effect.void,
            Console.error(`error: ${error.message}`)
          ),
          true
        )
      )
    )
    if (failed) return yield* new ItemsFailed({ failed: 1, total: 1 })
  })
