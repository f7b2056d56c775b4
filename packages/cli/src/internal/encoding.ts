/**
 * Input files as checked UTF-8. Every chunk of a file is validated (or, in another encoding, decoded) as it
 * streams by, so that bytes that are not text in the file's encoding stop the command at their
 * `file:line:column` instead of reaching a prompt as U+FFFD.
 *
 * @internal
 */
import { Effect, Result, Stream } from "effect"
import { isUtf8 } from "node:buffer"
import { TextDecoder } from "node:util"
import { InputError, UsageError } from "../Errors.js"

/**
 * A text encoding, by the name `TextDecoder` gives it: `"utf-8"`, `"utf-16le"`, `"utf-16be"`, `"windows-1252"`
 * (what the WHATWG Encoding Standard, and so `TextDecoder`, reads for `latin1` and `iso-8859-1`), or another
 * single-byte encoding.
 */
export type Encoding = string & { readonly Encoding: unique symbol }

const utf8 = "utf-8" as Encoding

// Their characters span a variable number of bytes with no way to find a boundary from the end of a chunk.
// A constant table of pure values, never written: no application state.
const multiByteLegacy: ReadonlyArray<string> = [
  "gbk",
  "gb18030",
  "big5",
  "euc-jp",
  "iso-2022-jp",
  "shift_jis",
  "euc-kr"
]

const supported = "utf-8, utf-16le, utf-16be, latin1 (read as windows-1252) or another single-byte encoding"

/** The encoding a `--encoding` value names, or a {@link UsageError} listing what is supported. */
export const resolve = (label: string): Result.Result<Encoding, UsageError> => {
  let encoding: string | undefined
  try {
    encoding = new TextDecoder(label.trim()).encoding
  } catch {
    encoding = undefined
  }
  return encoding === undefined || multiByteLegacy.includes(encoding)
    ? Result.fail(
      new UsageError({
        reason: `--encoding ${label}: ${encoding === undefined ? "unknown encoding" : "not supported"}`,
        hint: `Use ${supported}, e.g. --encoding latin1`
      })
    )
    : Result.succeed(encoding as Encoding)
}

const display = (encoding: Encoding): string => (encoding.startsWith("utf-") ? encoding.toUpperCase() : encoding)

const LF = 0x0a
const empty = new Uint8Array(0)

/** A byte order mark, which names the encoding whatever was asked (as the WHATWG decode algorithm does). */
const sniff = (bytes: Uint8Array): { readonly encoding: Encoding; readonly length: number } | undefined =>
  bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
    ? { encoding: utf8, length: 3 }
    : bytes[0] === 0xff && bytes[1] === 0xfe
    ? { encoding: "utf-16le" as Encoding, length: 2 }
    : bytes[0] === 0xfe && bytes[1] === 0xff
    ? { encoding: "utf-16be" as Encoding, length: 2 }
    : undefined

/** Where a UTF-8 sequence goes wrong: the offset of its first byte, and whether it only runs past the end. */
const invalidUtf8 = (bytes: Uint8Array): { readonly offset: number; readonly truncated: boolean } | undefined => {
  let i = 0
  while (i < bytes.length) {
    const lead = bytes[i]!
    if (lead < 0x80) {
      // NUL is valid UTF-8 but never text: a file full of them is UTF-16 read as UTF-8.
      if (lead === 0) return { offset: i, truncated: false }
      i++
      continue
    }
    const length = lead >= 0xc2 && lead <= 0xdf
      ? 2
      : lead >= 0xe0 && lead <= 0xef
      ? 3
      : lead >= 0xf0 && lead <= 0xf4
      ? 4
      : 0
    if (length === 0) return { offset: i, truncated: false }
    // The second byte's range excludes overlong forms, surrogates and code points above U+10FFFF.
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf
    for (let k = 1; k < length; k++) {
      if (i + k >= bytes.length) return { offset: i, truncated: true }
      const next = bytes[i + k]!
      if (k === 1 ? next < low || next > high : next < 0x80 || next > 0xbf) return { offset: i, truncated: false }
    }
    i += length
  }
  return undefined
}

/** The offset of the first unpaired surrogate of UTF-16 bytes (an even count). */
const unpairedSurrogate = (bytes: Uint8Array, littleEndian: boolean): number => {
  const unit = (i: number) => (littleEndian ? bytes[i]! | (bytes[i + 1]! << 8) : (bytes[i]! << 8) | bytes[i + 1]!)
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const u = unit(i)
    if (u >= 0xdc00 && u <= 0xdfff) return i
    if (u >= 0xd800 && u <= 0xdbff) {
      if (i + 3 >= bytes.length) return i
      const next = unit(i + 2)
      if (next < 0xdc00 || next > 0xdfff) return i
      i += 2
    }
  }
  return bytes.length
}

/** How many leading bytes of a chunk end on a character boundary; the rest waits for the next chunk. */
const boundary = (encoding: Encoding, bytes: Uint8Array): number => {
  const length = bytes.length
  if (encoding === utf8) {
    for (let i = length - 1; i >= Math.max(0, length - 4); i--) {
      const byte = bytes[i]!
      if (byte < 0x80) return length
      if (byte >= 0xc0) return i + (byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2) > length ? i : length
    }
    return length
  }
  if (encoding === "utf-16le" || encoding === "utf-16be") {
    const even = length - (length % 2)
    if (even < 2) return 0
    const last = encoding === "utf-16le" ? bytes[even - 1]! : bytes[even - 2]!
    return last >= 0xd8 && last <= 0xdb ? even - 2 : even
  }
  return length
}

const countLines = (bytes: Buffer): number => {
  let count = 0
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) count++
  return count
}

/** Characters, not bytes, as an editor counts columns. */
const countCharacters = (bytes: Uint8Array): number => {
  let count = 0
  for (let i = 0; i < bytes.length; i++) if ((bytes[i]! & 0xc0) !== 0x80) count++
  return count
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const hex = (byte: number) => `0x${byte.toString(16).toUpperCase().padStart(2, "0")}`

interface Problem {
  readonly offset: number
  readonly reason: string
  readonly hint: string
}

/** What is wrong with bytes that are not valid UTF-8 (or hold a NUL). */
const utf8Problem = (body: Uint8Array): Problem => {
  const { offset, truncated } = invalidUtf8(body)!
  const byte = body[offset]!
  return truncated
    ? { offset, reason: "the file ends in the middle of a UTF-8 character", hint: "Was the file cut short?" }
    : byte === 0
    ? {
      offset,
      reason: "byte 0x00 (NUL), which is not text",
      hint: "A file with NUL bytes is often UTF-16 without a byte order mark: pass --encoding utf-16le (or utf-16be)"
    }
    : {
      offset,
      reason: `not valid UTF-8: byte ${hex(byte)}`,
      hint: "Re-save the file as UTF-8, or name its encoding, e.g. --encoding latin1 (also windows-1252, utf-16le)"
    }
}

/** What is wrong with bytes that a fatal UTF-16 decoder refused. */
const utf16Problem = (body: Uint8Array, encoding: Encoding): Problem => {
  const surrogate = unpairedSurrogate(body, encoding === "utf-16le")
  const hint = `Check --encoding: is the file ${display(encoding)}?`
  return surrogate < body.length
    ? { offset: surrogate, reason: `not valid ${display(encoding)}: an unpaired surrogate`, hint }
    : { offset: body.length - 1, reason: `the file ends in the middle of a ${display(encoding)} character`, hint }
}

/**
 * Checks a file's bytes as text in `encoding` (a byte order mark overrides it) and gives them as UTF-8, split
 * only between characters, without the byte order mark. Fails at the first byte that is not text, naming its
 * line and column.
 */
export const toUtf8 =
  (file: string, requested: Encoding = utf8) =>
  <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E | InputError, R> =>
    Stream.suspend(() => {
      let encoding: Encoding | undefined
      let decoder: TextDecoder | undefined
      let carry: Uint8Array = empty
      let line = 1
      // The output since the last line feed, to count the column of a bad byte found in a later chunk.
      let lineStart: Array<Uint8Array> = []

      /** The UTF-8 of bytes that end on a character boundary, or what is wrong with them. */
      const convert = (body: Uint8Array): Buffer | Problem => {
        if (decoder === undefined) {
          return isUtf8(body) && asBuffer(body).indexOf(0) < 0 ? asBuffer(body) : utf8Problem(body)
        }
        try {
          return Buffer.from(decoder.decode(body), "utf8")
        } catch {
          // Only a fatal UTF-16 decoder throws: single-byte encodings map every byte.
          return utf16Problem(body, encoding!)
        }
      }

      const failure = (body: Uint8Array, problem: Problem): InputError => {
        // The bytes before the problem are valid: converted, they give its line and column.
        const before = convert(body.subarray(0, problem.offset)) as Buffer
        const lastLf = before.lastIndexOf(LF)
        const column = lastLf >= 0
          ? countCharacters(before.subarray(lastLf + 1))
          : lineStart.reduce((sum, part) => sum + countCharacters(part), 0) + countCharacters(before)
        return new InputError({
          file,
          line: line + countLines(before),
          column: column + 1,
          reason: problem.reason,
          hint: problem.hint
        })
      }

      const push = (chunk: Uint8Array, final: boolean): Result.Result<Uint8Array, InputError> => {
        let bytes = chunk
        if (carry.length > 0) {
          bytes = new Uint8Array(carry.length + chunk.length)
          bytes.set(carry)
          bytes.set(chunk, carry.length)
        }
        if (encoding === undefined) {
          // Three bytes tell whether there is a byte order mark.
          if (bytes.length < 3 && !final) {
            carry = bytes
            return Result.succeed(empty)
          }
          const mark = sniff(bytes)
          encoding = mark?.encoding ?? requested
          if (encoding !== utf8) decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true })
          if (mark !== undefined) bytes = bytes.subarray(mark.length)
        }
        const cut = final ? bytes.length : boundary(encoding, bytes)
        carry = bytes.slice(cut)
        const body = bytes.subarray(0, cut)
        const out = convert(body)
        if (!Buffer.isBuffer(out)) return Result.fail(failure(body, out))
        const lastLf = out.lastIndexOf(LF)
        if (lastLf < 0) {
          lineStart.push(out)
        } else {
          line += countLines(out)
          lineStart = [out.subarray(lastLf + 1)]
        }
        return Result.succeed(out)
      }

      return bytes.pipe(
        Stream.mapEffect((chunk) => Effect.fromResult(push(chunk, false))),
        Stream.concat(Stream.suspend(() => Stream.fromEffect(Effect.fromResult(push(empty, true))))),
        Stream.filter((chunk) => chunk.length > 0)
      )
    })
