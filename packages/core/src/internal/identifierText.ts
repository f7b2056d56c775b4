/**
 * The text of an identifier: its comma-separated tokens, values read by their kind, and the explanations of a
 * mistyped one (a model name holding a separator or a key, a setting not written key=value, the nearest known
 * key, a value out of its range).
 *
 * @internal
 */
import { Result, Schema } from "effect"
import * as GenerateParams from "../GenerateParams.js"
import * as Secrets from "../Secrets.js"

/** The kinds of value a setting or param takes. */
export type ValueKind = "string" | "int" | "float" | "bool" | "secret" | "list"

export interface Token {
  readonly text: string
  readonly position: number
}

export interface Problem {
  readonly offset: number
  readonly reason: string
  readonly hint: string
}

/** Whitespace, ';' or '=' in a model name are a mistyped ','; a model shaped like a key is a key out of place. */
export const modelProblem = (model: string): Problem | undefined => {
  const offset = model.search(/[\s;=]/)
  if (offset !== -1) {
    const char = model[offset]!
    return /\s/.test(char)
      ? {
        offset,
        reason: "the model name contains whitespace",
        hint: "Write the identifier without spaces, the settings separated by ',': provider!model,key=value"
      }
      : {
        offset,
        reason: `the model name contains '${char}'`,
        hint: "Separate the settings from the model, and from each other, with ',': provider!model,key=value,key=value"
      }
  }
  // A path names a model's files (they may be named by a hash); anywhere else a key-shaped model is a key.
  if (!model.includes("/") && Secrets.looksLikeKey(model)) {
    return {
      offset: 0,
      reason: "the model name looks like an API key",
      hint:
        "Give a key as api_key=... after the model (provider!model,api_key=...), or in the provider's environment variable"
    }
  }
  return undefined
}

export const notKeyValueHint = (
  text: string,
  known: ReadonlyArray<string>,
  secretSetting: string | undefined
): string => {
  const colon = /^([^:]+):/.exec(text)?.[1]?.trim()
  if (colon !== undefined && known.includes(colon)) return `Write ${colon}=..., with '=' between the key and its value`
  const secret = secretSetting ?? "api_key"
  if (colon !== undefined && Secrets.isSecretName(colon)) {
    return `Write ${secret}=..., with '=' between the key and its value`
  }
  if (Secrets.looksLikeKey(text)) {
    return `This looks like an API key: write ${secret}=..., or set it in the provider's environment variable`
  }
  return "Settings are written key=value, separated by ','"
}

export const isSetting = (item: string, known: ReadonlyArray<string>): boolean => {
  const key = /^([^=]+)=/.exec(item)?.[1]?.trim()
  return key !== undefined && (known.includes(key) || Secrets.isSecretName(key))
}

/** What the {@link GenerateParams} schema expects of a param's value, when the value is not that. */
export const outOfRange = (field: GenerateParams.IdentifierKey["field"], value: unknown): string | undefined => {
  const decoded = Schema.decodeUnknownResult(GenerateParams.GenerateParams)({ [field]: value })
  if (Result.isSuccess(decoded)) return undefined
  const first = decoded.failure.message.split("\n")[0] ?? ""
  return first.charAt(0).toLowerCase() + first.slice(1)
}

export const rangeHint = (key: string, expected: string): { readonly hint?: string } => {
  const range = /^expected a value (.+)$/.exec(expected)?.[1]
  return range === undefined ? {} : { hint: `Give ${key} a value ${range}` }
}

/** The known key nearest to an unknown one: its snake_case, the provider's key for a secret, or a typo away. */
export const suggest = (
  key: string,
  known: ReadonlyArray<string>,
  secretSetting: string | undefined
): string | undefined => {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  if (snake !== key && known.includes(snake)) return snake
  if (secretSetting !== undefined && Secrets.isSecretName(key)) return secretSetting
  const lower = key.trim().toLowerCase()
  let best: string | undefined
  let bestDistance = Math.min(2, Math.floor(lower.length / 3)) + 1
  for (const candidate of known) {
    const d = distance(lower, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Edit distance, with a swap of two neighbours as one edit (`api_kye` is one from `api_key`). */
const distance = (a: string, b: string): number => {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0)
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!
      const above = d[i - 1]!
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
      }
    }
  }
  return d[a.length]![b.length]!
}

export const splitTokens = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let position = 0
  for (const part of text.split(",")) {
    tokens.push({ text: part, position })
    position += part.length + 1
  }
  return tokens
}

export const kindName = (kind: ValueKind): string => {
  switch (kind) {
    case "int":
      return "an integer"
    case "float":
      return "a number"
    case "bool":
      return "true or false"
    case "list":
      return "a ';'-separated list"
    default:
      return "a string"
  }
}

export const typedValue = (
  kind: ValueKind,
  raw: string
): string | number | boolean | ReadonlyArray<string> | undefined => {
  switch (kind) {
    case "int":
      return /^-?\d+$/.test(raw) ? Number(raw) : undefined
    case "float": {
      const n = raw.trim().length === 0 ? NaN : Number(raw)
      return Number.isFinite(n) ? n : undefined
    }
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : undefined
    case "list":
      return raw.split(";")
    default:
      return raw
  }
}
