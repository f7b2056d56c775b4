import { InvalidItem, InvalidTemplate, Message, Template, TemplateMismatch } from "@capstan/core"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

const contents = (messages: ReadonlyArray<Message.Message>) => messages.map((m) => `${m.role}:${m.text}`)

describe("Template", () => {
  describe("types", () => {
    it("infers variables from a literal, skipping escapes", () => {
      const t = Template.make("Review: {review} by {author}. {{not_a_var}} {{{stars}}}")
      expectTypeOf(t).toEqualTypeOf<Template.TextTemplate<"review" | "author" | "stars">>()
      expectTypeOf<Template.Variables<"{a}{{b}}{c}">>().toEqualTypeOf<"a" | "c">()
      expectTypeOf<Template.Variables<"no variables {{here}}">>().toEqualTypeOf<never>()
      expect(t.variables).toEqual(["review", "author", "stars"])
    })

    it("falls back to string for non-literal sources", () => {
      const source: string = "Hello {name}"
      const t = Template.make(source)
      expectTypeOf(t).toEqualTypeOf<Template.TextTemplate<string>>()
      expect(t.variables).toEqual(["name"])
    })

    it("infers the union over a chat template's messages", () => {
      const t = Template.chat([
        { role: "system", content: "You are {persona}" },
        { role: "user", content: "{question} {{json}}" }
      ])
      expectTypeOf(t).toEqualTypeOf<Template.ChatTemplate<"persona" | "question">>()
      expect(t.variables).toEqual(["persona", "question"])
    })

    it("rejects invalid literals and wrong keys at compile time", () => {
      const t = Template.make("Rate {item}")
      // @ts-expect-error unclosed brace
      expect(() => Template.make("Rate {item")).toThrow(InvalidTemplate)
      // @ts-expect-error invalid name
      expect(() => Template.make("Rate {an item}")).toThrow(InvalidTemplate)
      // @ts-expect-error lone closing brace
      expect(() => Template.make("Rate } {item}")).toThrow(InvalidTemplate)
      // @ts-expect-error invalid content in one chat message
      expect(() => Template.chat([{ role: "user", content: "{ok}" }, { role: "user", content: "{}" }])).toThrow(
        InvalidTemplate
      )
      // @ts-expect-error missing key
      expect(() => Template.render(t, {})).toThrow(TemplateMismatch)
      // @ts-expect-error unexpected key in a literal
      Template.render(t, { item: "x", other: 1 })
      // @ts-expect-error wrong key, data-last
      expect(() => t.pipe(Template.render({ wrong: "x" }))).toThrow(TemplateMismatch)
      // @ts-expect-error not a value
      expect(() => Template.render(t, { item: null })).toThrow(InvalidItem)
      // renderText only takes text templates
      // @ts-expect-error a chat template
      Template.renderText(Template.chat([{ role: "user", content: "{item}" }]), { item: "x" })
    })
  })

  describe("parsing", () => {
    it("handles escapes", () => {
      const t = Template.make("{{\"label\": \"{label}\"}} }}{{ {{{x}}}")
      expect(t.variables).toEqual(["label", "x"])
      expect(Template.renderText(t, { label: "pos", x: 1 })).toBe("{\"label\": \"pos\"} }{ {1}")
    })

    it("keeps the first-appearance order and deduplicates", () => {
      const t = Template.make("{b} {a} {b} {c} {a}")
      expect(t.variables).toEqual(["b", "a", "c"])
      expect(Template.renderText(t, { a: 1, b: 2, c: 3 })).toBe("2 1 2 3 1")
    })

    it.effect("fails with InvalidTemplate and the position", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [string, number, string]> = [
          ["Review: {review", 8, "unclosed"],
          ["a } b", 2, "lone"],
          ["x {} y", 2, "empty variable name"],
          ["x {user.name}", 2, "invalid variable name \"user.name\""],
          ["{ok} {1st}", 5, "invalid variable name \"1st\""],
          ["{a{b}", 0, "invalid variable name \"a{b\""],
          ["{x}}", 3, "lone"]
        ]
        for (const [source, position, reason] of cases) {
          const error = yield* Effect.flip(Template.parse(source))
          expect(error).toBeInstanceOf(InvalidTemplate)
          expect(error.position, source).toBe(position)
          expect(error.reason, source).toContain(reason)
          expect(error.template).toBe(source)
          expect(error.message).toContain(`at character ${position + 1}`)
          expect(error.message).toContain("Write {{ and }} for literal braces")
        }
      }))

    it.effect("names the message of a chat template and checks roles", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Template.parse([
          { role: "system", content: "You are {persona}" },
          { role: "user", content: "Q: {question" }
        ]))
        expect(error.messageIndex).toBe(1)
        expect(error.position).toBe(3)
        expect(error.message).toContain("at character 4 in message 2")
        const role = yield* Effect.flip(
          Template.parse([{ role: "robot", content: "hi" }] as unknown as ReadonlyArray<Template.MessageTemplate>)
        )
        expect(role.reason).toContain("unknown role \"robot\"")
        const empty = yield* Effect.flip(Template.parse([]))
        expect(empty.reason).toContain("non-empty")
        const emptyId = yield* Effect.flip(Template.parse("{x}", { id: "" }))
        expect(emptyId.reason).toContain("id is empty")
      }))

    it.effect("takes system, user and assistant roles only: a template never writes tool messages", () =>
      Effect.gen(function*() {
        expect(Template.Role.literals).toEqual(["system", "user", "assistant"])
        expect(Schema.is(Template.Role)("tool")).toBe(false)
        expect(Schema.is(Message.Role)("tool")).toBe(true)
        const tool = yield* Effect.flip(
          Template.parse(
            [{ role: "user", content: "{q}" }, { role: "tool", content: "{result}" }] as unknown as ReadonlyArray<
              Template.MessageTemplate
            >
          )
        )
        expect(tool).toBeInstanceOf(InvalidTemplate)
        expect(tool.messageIndex).toBe(1)
        expect(tool.reason).toContain("unknown role \"tool\": use system, user or assistant")
        // A decoded source (a template file) is refused the same way
        expect(Schema.decodeUnknownOption(Template.Source)([{ role: "tool", content: "x" }])._tag).toBe("None")
        // @ts-expect-error a chat template has no tool messages
        expect(() => Template.chat([{ role: "tool", content: "{x}" }])).toThrow(InvalidTemplate)
        expectTypeOf<Template.MessageTemplate["role"]>().toEqualTypeOf<"system" | "user" | "assistant">()
      }))

    it.effect("parses run-time sources", () =>
      Effect.gen(function*() {
        const text = yield* Template.parse("Summarize: {text}", { id: "sum" })
        expect(text.kind).toBe("text")
        expect(text.id).toBe("sum")
        expect(text.variables).toEqual(["text"])
        const chat = yield* Template.parse([{ role: "user", content: "{a}" }, { role: "assistant", content: "{b}" }])
        expect(chat.kind).toBe("chat")
        expect(chat.variables).toEqual(["a", "b"])
        expect(Template.isTemplate(chat)).toBe(true)
        expect(Template.isTemplate({ kind: "text" })).toBe(false)
        expect(String(chat)).toBe("[user]: {a}\n[assistant]: {b}")
      }))
  })

  describe("render", () => {
    it("renders a text template to one user message, data-first and data-last", () => {
      const t = Template.make("Rate {item} from 1 to {max}; strict: {strict}")
      const first = Template.render(t, { item: "this", max: 5, strict: true })
      const last = t.pipe(Template.render({ item: "this", max: 5, strict: true }))
      expect(contents(first)).toEqual(["user:Rate this from 1 to 5; strict: true"])
      expect(last).toEqual(first)
      expect(first[0]).toBeInstanceOf(Message.Message)
      expect(Template.renderText(t, { item: "x", max: 2.5, strict: false })).toBe("Rate x from 1 to 2.5; strict: false")
      expect(t.pipe(Template.renderText({ item: "y", max: 0, strict: false }))).toBe(
        "Rate y from 1 to 0; strict: false"
      )
    })

    it("renders a chat template message by message", () => {
      const t = Template.chat([
        { role: "system", content: "You are {persona}." },
        { role: "user", content: "Question: {question}" },
        { role: "assistant", content: "Thinking about {question}..." }
      ])
      expect(contents(Template.render(t, { persona: "a pirate", question: "why?" }))).toEqual([
        "system:You are a pirate.",
        "user:Question: why?",
        "assistant:Thinking about why?..."
      ])
    })

    it("does not re-interpret braces inside values", () => {
      const t = Template.make("{a} {b}")
      expect(Template.renderText(t, { a: "{b}", b: "}}" })).toBe("{b} }}")
    })
  })
})
