/**
 * The built-in answers (`Model.Answer`, `CommaDelimitedAnswer`, `DelimitedAnswer`, `YesNoAnswer`, `NumberAnswer`):
 * XML models whose schemas read lists, yes/no and numbers out of the loose text a model writes.
 *
 * @internal
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { quote, type XmlModel } from "./model.js"
import { xml } from "./xmlModel.js"

/** A list schema read from text with `split`, written back with `join`. */
const listFromText = (
  split: (text: string) => ReadonlyArray<string>,
  separator: string
): Schema.Codec<ReadonlyArray<string>, string> =>
  Schema.String.pipe(Schema.decodeTo(
    Schema.Array(Schema.String),
    SchemaTransformation.transform({ decode: split, encode: (items) => items.join(separator) })
  ))

/** A schema reading a value from text, failing with `message(text)` when `read` returns `undefined`. */
const fromText = <A>(
  target: Schema.Codec<A>,
  read: (text: string) => A | undefined,
  write: (value: A) => string,
  message: (text: string) => string
): Schema.Codec<A, string> =>
  Schema.String.pipe(Schema.decodeTo(
    target,
    SchemaTransformation.transformEffect({
      decode: (text: string, options) => {
        const value = read(text)
        return value === undefined
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: message(text) }, text, options))
          : Effect.succeed(value)
      },
      encode: (value: A) => Effect.succeed(write(value))
    })
  ))

const unquote = (item: string): string =>
  item.length >= 2 && `"'\``.includes(item[0]!) && item[item.length - 1] === item[0] ? item.slice(1, -1).trim() : item

const splitOn = (text: string, delimiter: string | RegExp): ReadonlyArray<string> =>
  text.split(delimiter).map((item) => unquote(item.trim())).filter((item) => item.length > 0)

const bullet = /^(?:[-*+•]|\d{1,3}[.)])\s+/

/** Splits a list on newlines (with bullets removed) when it spans lines, else on its commonest of `,` `;` `|`. */
const splitDelimited = (text: string): ReadonlyArray<string> => {
  const lines = text.split("\n").filter((line) => line.trim().length > 0)
  if (lines.length > 1) return splitOn(lines.map((line) => line.trim().replace(bullet, "")).join("\n"), "\n")
  const [delimiter] = [",", ";", "|"].reduce<[string, number]>((best, candidate) => {
    const count = text.split(candidate).length
    return count > best[1] ? [candidate, count] : best
  }, [",", 0])
  return splitOn(text, delimiter)
}

const yesNo = /^[\s*_"'`]*([a-z]+)(?![a-z/])/i
const readYesNo = (text: string): boolean | undefined => {
  const word = yesNo.exec(text)?.[1]?.toLowerCase()
  return word === "yes" || word === "y" || word === "true"
    ? true
    : word === "no" || word === "n" || word === "false"
    ? false
    : undefined
}

const number = /^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const readNumber = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (!/\d/.test(trimmed) || !number.test(trimmed)) return undefined
  const value = Number(trimmed.replaceAll(",", ""))
  return Number.isFinite(value) ? value : undefined
}

/** @internal */
export const Answer: XmlModel<string> = xml("answer", Schema.String, {
  instructions: "Put your answer inside <answer></answer> tags."
})

/** @internal */
export const CommaDelimitedAnswer: XmlModel<ReadonlyArray<string>> = xml(
  "comma-delimited-answer",
  listFromText((text) => splitOn(text, ","), ", "),
  {
    instructions:
      "Put your answer as a comma-separated list inside <comma-delimited-answer></comma-delimited-answer> tags, like this:\n<comma-delimited-answer>first, second, third</comma-delimited-answer>"
  }
)

/** @internal */
export const DelimitedAnswer: XmlModel<ReadonlyArray<string>> = xml(
  "delimited-answer",
  listFromText(splitDelimited, "\n"),
  {
    instructions:
      "Put your answer as a list inside <delimited-answer></delimited-answer> tags, one item per line, like this:\n<delimited-answer>\nfirst\nsecond\n</delimited-answer>"
  }
)

/** @internal */
export const YesNoAnswer: XmlModel<boolean> = xml(
  "yes-no-answer",
  fromText(
    Schema.Boolean,
    readYesNo,
    (value) => (value ? "yes" : "no"),
    (text) => `Expected yes or no, got ${quote(text)}`
  ),
  {
    instructions:
      "Answer yes or no inside <yes-no-answer></yes-no-answer> tags, like this:\n<yes-no-answer>yes</yes-no-answer>"
  }
)

/** @internal */
export const NumberAnswer: XmlModel<number> = xml(
  "number-answer",
  fromText(
    Schema.Finite,
    readNumber,
    String,
    (text) => `Expected a single number such as 42, -3.5 or 1,234.5 (no units or words), got ${quote(text)}`
  ),
  {
    instructions:
      "Put your answer as a single number (no units or words) inside <number-answer></number-answer> tags, like this:\n<number-answer>42</number-answer>"
  }
)
