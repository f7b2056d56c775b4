/**
 * The `--template` of `capstan batch`: a file (`.json` holds a string or a list of messages; any other file is the
 * template text) or the template text itself; a value that reads as a file name but is none is a mistyped path.
 *
 * @internal
 */
import { Template } from "@capstan/core"
import { Effect, FileSystem, Option, Schema } from "effect"
import { InputError } from "../Errors.js"
import * as Input from "../Input.js"

/** A `--template` value: a file (`.json` holds a string or a list of messages), or the template text itself. */
export const loadTemplate = (
  value: string,
  reading: Input.ReadOptions
): Effect.Effect<Template.Template, InputError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const isFile = yield* fs.exists(value).pipe(Effect.orElseSucceed(() => false))
    const where = isFile ? value : "--template"
    const toInputError = (error: { readonly message: string }) => new InputError({ file: where, reason: error.message })
    if (!isFile) {
      // A value that reads as a file name is a mistyped path, not a prompt without variables.
      if (/^[\w.\\/~-]+\.(txt|md|json|prompt|tmpl)$/i.test(value)) {
        return yield* new InputError({ file: value, reason: "cannot read the template file: no such file" })
      }
      return yield* Template.parse(value).pipe(Effect.mapError(toInputError))
    }
    const text = yield* Input.readText(value, reading)
    if (!value.toLowerCase().endsWith(".json")) {
      return yield* Template.parse(text.replace(/\r?\n$/, "")).pipe(Effect.mapError(toInputError))
    }
    const source = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => new InputError({ file: value, reason: `malformed JSON: ${(error as Error).message}` })
    })
    const decoded = Schema.decodeUnknownOption(Template.Source)(source)
    if (Option.isNone(decoded)) {
      return yield* new InputError({
        file: value,
        reason: "a .json template holds a string or a list of {\"role\", \"content\"} messages"
      })
    }
    return yield* Template.parse(decoded.value).pipe(Effect.mapError(toInputError))
  })
