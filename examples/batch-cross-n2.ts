/**
 * batch-prompt's cross product: every template × every argument set (`Dataset.cross`), two choices each
 * (`n = 2`, asked for in one request per prompt). The results are flat rows, one per choice, each carrying its
 * provenance: row id (`<template id>:<item id>`), choice, template, arguments, output. Then the usage totals
 * with `Batch.summarize`, overall and per template, priced with a small price table.
 *
 * Run it: `node --conditions=@capstan/source --import tsx examples/batch-cross-n2.ts`
 * (set CAPSTAN_GENERATOR, e.g. `openai!gpt-4o-mini`, to run it on a real model).
 */
import {
  Batch,
  type BatchStopped,
  Dataset,
  type Generator,
  type InvalidItem,
  type InvalidParams,
  type InvalidTemplate,
  Template,
  type TemplateMismatch,
  type Usage
} from "@capstan/core"
import { MockGenerator } from "@capstan/core/testing"
import { Console, Effect, type Layer } from "effect"
import { runMain } from "./run.js"

export const templates: ReadonlyArray<Template.TextTemplate<"food">> = [
  Template.make("In one short sentence, say why you like {food}.", { id: "like" }),
  Template.make("In one short sentence, say why you hate {food}.", { id: "hate" })
]

export const argSets: ReadonlyArray<{ readonly id: string; readonly food: string }> = [
  { id: "pizza", food: "pizza" },
  { id: "apples", food: "apples" },
  { id: "natto", food: "natto" }
]

export const choices = 2

/** US dollars per million tokens. */
export const prices: Usage.PriceTable = {
  "gpt-4o-mini": { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  "gpt-4o": { inputPerMillion: 2.5, outputPerMillion: 10 }
}

const dollars = (cost: number | undefined): string => cost === undefined ? "unknown (no price)" : `$${cost.toFixed(6)}`

const totals = (summary: Batch.Summary): string =>
  `${summary.rows} rows (${summary.ok} ok), ${summary.attempts} requests, ${summary.usage.inputTokens} input + ` +
  `${summary.usage.outputTokens} output tokens, cost ${dollars(summary.cost)}`

export const program: Effect.Effect<
  { readonly rows: ReadonlyArray<Batch.Row>; readonly summary: Batch.Summary },
  InvalidTemplate | InvalidItem | TemplateMismatch | InvalidParams | BatchStopped,
  Generator.Generator
> = Effect.gen(function*() {
  const items = yield* Dataset.cross(templates, argSets)
  const { rows } = yield* Batch.run(items, { params: { n: choices, temperature: 1 } })
  yield* Console.log(`${"row id".padEnd(12)} choice  ${"template".padEnd(8)}  ${"args".padEnd(12)}  output`)
  for (const row of rows) {
    const args = Object.entries(row.vars).map(([key, value]) => `${key}=${value}`).join(",")
    const output = row.output ?? `(${row.error?._tag})`
    yield* Console.log(
      `${row.id.padEnd(12)} ${String(row.choice).padStart(6)}  ${(row.templateId ?? "").padEnd(8)}  ${
        args.padEnd(12)
      }  ${output}`
    )
  }
  const summary = Batch.summarize(rows, { prices })
  yield* Console.log("")
  for (const template of templates) {
    const own = Batch.summarize(rows.filter((row) => row.templateId === template.id), { prices })
    yield* Console.log(`${template.id}: ${totals(own)}`)
  }
  yield* Console.log(`all:  ${totals(summary)}`)
  yield* Console.log(`\nOne row as JSON:\n${Batch.toJsonLine(rows[0]!)}`)
  return { rows, summary }
})

// Two answers per prompt, as a model sampled at temperature 1 might give them.
const answers: Readonly<Record<string, readonly [string, string]>> = {
  "like pizza": [
    "Melted cheese on a crisp crust makes every slice a small party.",
    "It is warm, shareable and endlessly customisable."
  ],
  "like apples": ["They are crunchy, sweet and fit in any pocket.", "A cold apple on a hot day is pure refreshment."],
  "like natto": [
    "Its nutty, savoury depth makes a plain bowl of rice exciting.",
    "It is packed with protein and wakes up my breakfast."
  ],
  "hate pizza": [
    "Greasy cheese and soggy centres ruin it for me.",
    "Too often it is a salt bomb pretending to be dinner."
  ],
  "hate apples": ["A mealy apple is the most disappointing bite there is.", "The skins always get stuck in my teeth."],
  "hate natto": [
    "The slimy strings and the smell are too much for me.",
    "Its sticky threads cling to everything they touch."
  ]
}

export const mock: Layer.Layer<Generator.Generator | MockGenerator.MockGenerator> = MockGenerator.fn((text, params) => {
  const [, feeling = "", food = ""] = text.match(/why you (like|hate) (\w+)\./) ?? []
  const pair = answers[`${feeling} ${food}`] ?? ["I have no opinion.", "Really, none."]
  return pair.slice(0, params.n ?? 1)
}, { identifier: "mock!gpt-4o-mini" })

runMain(import.meta, program, mock)
