import { Model, ParseError } from "@capstan/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, pipe, Schema } from "effect"

const parseSync = <A>(model: Model.Model<A>, text: string): A => Effect.runSync(Model.parse(model, text))
const parseError = <A>(model: Model.Model<A>, text: string): ParseError =>
  Effect.runSync(Effect.flip(Model.parse(model, text)))
const manySync = <A>(model: Model.Model<A>, text: string): ReadonlyArray<A> =>
  Effect.runSync(Model.parseMany(model, text))

const text = (tag: string) => Model.xml(tag, Schema.String)
const Question = text("question")
const Outer = text("outer")

const multiLineText = "Multiline content with indentation\nsome extra spaces\n\nSome more text"

describe("Model.xml reading (rigging's parser cases)", () => {
  const cases: ReadonlyArray<readonly [string, Model.Model<string>, string, ReadonlyArray<string>]> = [
    ["single answer", Model.Answer, "<answer>hello</answer>", ["hello"]],
    ["text around the tag", Question, "Random data <question>hello</question> more", ["hello"]],
    ["unclosed unrelated tag", Question, "<answer> <question>hello</question>", ["hello"]],
    ["duplicate start tag", Model.Answer, "Sure I'll answer between <answer> tags. <answer>hello</answer>", ["hello"]],
    [
      "tag mentioned in another element",
      Question,
      "<question>Should I answer between <answer> tags?</question> <answer>hello</answer>",
      ["Should I answer between <answer> tags?"]
    ],
    [
      "...and the answer after it",
      Model.Answer,
      "<question>Should I answer between <answer> tags?</question> <answer>hello</answer>",
      ["hello"]
    ],
    ["inner element kept as text", Outer, "<outer>text before <inner>nested content</inner> text after</outer>", [
      "text before <inner>nested content</inner> text after"
    ]],
    ["incomplete inner tag", Outer, "<outer>Some text with <inner> incomplete tags</outer>", [
      "Some text with <inner> incomplete tags"
    ]],
    [
      "commentary before the tag",
      Outer,
      "Commentary about the `<inner>` tag\n\n<outer>something is <inner> and </inner></outer>",
      ["something is <inner> and </inner>"]
    ],
    [
      "overlapping same-name tags: innermost wins",
      text("a"),
      "<a>first <b>overlap <a>nested</a> continue</b> end</a>",
      ["nested"]
    ],
    [
      "several nesting levels",
      Outer,
      "<outer>level 1 <middle>level 2 <inner>level 3</inner> still 2</middle> back to 1</outer>",
      ["level 1 <middle>level 2 <inner>level 3</inner> still 2</middle> back to 1"]
    ],
    ["tag in text and as XML", text("tag"), "Here's how to use <tag>: <tag>actual content</tag>", ["actual content"]],
    [
      "indented multi-line content",
      text("tag"),
      "<tag>\n  Multiline content with indentation\n  some extra spaces\n\n  Some more text\n</tag>\n",
      [multiLineText]
    ],
    [
      "document order",
      Model.Answer,
      "<answer>first</answer> text <answer>second</answer> more text <answer>third</answer>",
      ["first", "second", "third"]
    ],
    ["< and & in text", Outer, "<outer>Text with <tag> & XML entities</outer>", ["Text with <tag> & XML entities"]],
    ["<DIR> and &", Outer, "<outer>Command output: <DIR> Program Files & <DIR> Users</outer>", [
      "Command output: <DIR> Program Files & <DIR> Users"
    ]],
    [
      "shell output is dedented, relative indentation kept",
      Outer,
      "<outer>\n  Volume in drive C:\n   Directory of C:\\\n   01/02/2024 <DIR> Program Files\n</outer>",
      ["Volume in drive C:\n Directory of C:\\\n 01/02/2024 <DIR> Program Files"]
    ],
    ["escaped entities are unescaped", Outer, "<outer>Text with &lt;inner&gt; as escaped HTML entities</outer>", [
      "Text with <inner> as escaped HTML entities"
    ]],
    [
      "numeric references and unknown entities",
      Outer,
      "<outer>&#65;&#x42; &quot;q&quot; &apos;s&apos; &nbsp; &amp;amp;</outer>",
      ["AB \"q\" 's' &nbsp; &amp;"]
    ],
    ["CDATA is unwrapped verbatim", Outer, "<outer><![CDATA[Already wrapped <content> & &lt;entities]]></outer>", [
      "Already wrapped <content> & &lt;entities"
    ]],
    ["a closing tag inside CDATA does not close", Model.Answer, "<answer><![CDATA[a </answer> b]]></answer>", [
      "a </answer> b"
    ]],
    ["comments are opaque", Model.Answer, "<answer>x <!-- </answer> --> y</answer>", ["x <!-- </answer> --> y"]],
    ["tag names are case-insensitive", Model.Answer, "<Answer>upper</ANSWER>", ["upper"]],
    ["attributes are tolerated", Model.Answer, `<answer id="1" kind='final' draft>with attributes</answer>`, [
      "with attributes"
    ]],
    ["self-closing tags are empty", Model.Answer, "<answer/> then <answer>filled</answer>", ["filled"]],
    ["a bare < and > are text", Model.Answer, "<answer>if a < b and c > d then x<y</answer>", [
      "if a < b and c > d then x<y"
    ]],
    ["CRLF line endings", Model.Answer, "<answer>\r\n    one\r\n    two\r\n</answer>", ["one\ntwo"]]
  ]
  for (const [name, model, input, expected] of cases) {
    it(name, () => {
      expect(manySync(model, input)).toEqual(expected)
      expect(parseSync(model, input)).toEqual(expected[0])
    })
  }

  it("empty tags before a filled one are passed over; parse takes the first filled one", () => {
    const input = "Sure I'll answer between <answer></answer> tags. <answer>hello</answer> <answer>again</answer>"
    expect(parseSync(Model.Answer, input)).toBe("hello")
    expect(manySync(Model.Answer, input)).toEqual(["hello", "again"])
  })

  it("only empty tags: the empty value is read", () => {
    expect(parseSync(Model.Answer, "<answer>  </answer>")).toBe("")
    expect(Effect.runSync(Effect.flip(Model.parse(Model.NumberAnswer, "<number-answer></number-answer>"))).reason)
      .toContain("Expected a single number")
  })

  it("parse takes the first occurrence that decodes", () => {
    expect(parseSync(Model.NumberAnswer, "<number-answer>about ten</number-answer><number-answer>10</number-answer>"))
      .toBe(10)
  })

  it("nested tags of the model's own name: one occurrence", () => {
    expect(manySync(Model.DelimitedAnswer, "<delimited-answer><delimited-answer>1, 2, 3</delimited-answer>"))
      .toEqual([["1", "2", "3"]])
    expect(manySync(Model.YesNoAnswer, "<yes-no-answer>yes</yes-no-answer><yes-no-answer>no</yes-no-answer>"))
      .toEqual([true, false])
  })
})

describe("Model.xml schemas", () => {
  it("scalars read the element's text", () => {
    expect(parseSync(Model.xml("n", Schema.Number), "<n> 42 </n>")).toBe(42)
    expect(parseSync(Model.xml("n", Schema.Finite), "<n>\n  -1.5e3\n</n>")).toBe(-1500)
    expect(parseSync(Model.xml("flag", Schema.Boolean), "<flag>True</flag>")).toBe(true)
    const Sentiment = Model.xml("sentiment", Schema.Literals(["positive", "negative"]))
    expect(parseSync(Sentiment, "<sentiment>Positive</sentiment>")).toBe("positive")
    expect(parseSync(Model.xml("level", Schema.Literals([1, 2, 3])), "<level>2</level>")).toBe(2)
    expect(parseSync(Model.xml("n", Schema.NumberFromString), "<n>7</n>")).toBe(7)
  })

  it("scalar failures name the element and the value read", () => {
    const error = parseError(Model.xml("n", Schema.Int), "<n>4.5</n>")
    expect(error).toBeInstanceOf(ParseError)
    expect(error.model).toBe("n")
    expect(error.reason).toContain("- <n>: Expected an integer, got \"4.5\"")
    const sentiment = parseError(
      Model.xml("sentiment", Schema.Literals(["positive", "negative"])),
      "<sentiment>meh</sentiment>"
    )
    expect(sentiment.reason).toContain("Expected \"positive\" | \"negative\", got \"meh\"")
  })

  const Person = Model.xml(
    "person",
    Schema.Struct({
      name: Schema.String,
      age: Schema.Int,
      hobbies: Schema.Array(Schema.String),
      nick: Schema.optionalKey(Schema.String)
    })
  )

  it("a struct reads child elements by field name", () => {
    const input = `Here you go:
      <person>
        <name>Ada Lovelace</name>
        <AGE> 36 </AGE>
        <hobbies>
          <item>math</item>
          <item>poetry</item>
        </hobbies>
      </person>`
    expect(parseSync(Person, input)).toEqual({ name: "Ada Lovelace", age: 36, hobbies: ["math", "poetry"] })
  })

  it("arrays: repeated elements, one item, empty wrapper", () => {
    expect(parseSync(Person, "<person><name>A</name><age>1</age><hobbies>x</hobbies><hobbies>y</hobbies></person>"))
      .toEqual({ name: "A", age: 1, hobbies: ["x", "y"] })
    expect(parseSync(Person, "<person><name>A</name><age>1</age><hobbies>chess</hobbies></person>"))
      .toEqual({ name: "A", age: 1, hobbies: ["chess"] })
    expect(parseSync(Person, "<person><name>A</name><age>1</age><hobbies></hobbies></person>"))
      .toEqual({ name: "A", age: 1, hobbies: [] })
  })

  it("optional fields: present, absent, or empty (counts as absent)", () => {
    const base = "<name>A</name><age>1</age><hobbies/>"
    expect(parseSync(Person, `<person>${base}<nick>Bo</nick></person>`).nick).toBe("Bo")
    expect("nick" in parseSync(Person, `<person>${base}</person>`)).toBe(false)
    expect("nick" in parseSync(Person, `<person>${base}<nick> </nick></person>`)).toBe(false)
  })

  it("struct failures list every field at fault, with its path", () => {
    const error = parseError(Person, "<person><name>Ada</name><age>old</age></person>")
    expect(error.reason).toContain("The <person></person> element in your response is invalid:")
    expect(error.reason).toContain("- <person>/<age>: Expected a number, got \"old\"")
    expect(error.reason).toContain("- <person>/<hobbies>: Missing <hobbies></hobbies> element")
    expect(error.reason).toContain("Answer again and fix these errors.")
    expect(error.reason).toContain(Person.instructions)
  })

  it("fields with XML-breaking text and attributes (rigging's multi-field model)", () => {
    const Command = Model.xml(
      "multi-field-model",
      Schema.Struct({ type: Schema.String, foo: Schema.String, bar: Schema.String })
    )
    const input = `<multi-field-model type="cmd">
  <foo>Process <pid> terminated</foo>
  <bar>
    Multiline content with indentation
    some extra spaces

    Some more text
  </bar>
</multi-field-model>`
    expect(parseSync(Command, input)).toEqual({ type: "cmd", foo: "Process <pid> terminated", bar: multiLineText })
    expect(
      parseSync(
        Command,
        `<multi-field-model type="cmd"><foo>Process <pid> terminated</foo><bar>Exit code <1></bar></multi-field-model>`
      )
    )
      .toEqual({ type: "cmd", foo: "Process <pid> terminated", bar: "Exit code <1>" })
  })

  it("nested structs, and the same name at two levels", () => {
    const Mixed = Model.xml(
      "mixed-model",
      Schema.Struct({ content: Schema.String, outer: Schema.Struct({ content: Schema.String }) })
    )
    const input = `<mixed-model>
  <content>Error in <module> at line <42></content>
  <outer>
    <content>normal nested content</content>
  </outer>
</mixed-model>`
    expect(parseSync(Mixed, input)).toEqual({
      content: "Error in <module> at line <42>",
      outer: { content: "normal nested content" }
    })
    const QuestionAnswer = Model.xml(
      "question-answer",
      Schema.Struct({ question: Schema.String, answer: Schema.String })
    )
    expect(
      parseSync(
        QuestionAnswer,
        "<question-answer>\n  <question>hello</question>\n  <answer>world</answer>\n</question-answer>"
      )
    )
      .toEqual({ question: "hello", answer: "world" })
    const AsElement = Model.xml("outer", Schema.Struct({ content: Schema.String }))
    expect(
      parseSync(
        AsElement,
        `<outer>\n  <content>\n    ${multiLineText.split("\n").join("\n    ")}\n  </content>\n</outer>`
      )
    )
      .toEqual({ content: multiLineText })
    expect(parseSync(AsElement, "<outer><content><![CDATA[Already wrapped <content> & entities]]></content></outer>"))
      .toEqual({ content: "Already wrapped <content> & entities" })
  })

  it("arrays of structs: wrapper with item elements, repeated elements, or a single item", () => {
    const Team = Model.xml(
      "team",
      Schema.Struct({ members: Schema.Array(Schema.Struct({ name: Schema.String, role: Schema.String })) })
    )
    const wrapped =
      "<team><members><item><name>A</name><role>x</role></item><item><name>B</name><role>y</role></item></members></team>"
    const repeated =
      "<team><members><name>A</name><role>x</role></members><members><name>B</name><role>y</role></members></team>"
    expect(parseSync(Team, wrapped)).toEqual({ members: [{ name: "A", role: "x" }, { name: "B", role: "y" }] })
    expect(parseSync(Team, repeated)).toEqual({ members: [{ name: "A", role: "x" }, { name: "B", role: "y" }] })
    expect(parseSync(Team, "<team><members><name>A</name><role>x</role></members></team>"))
      .toEqual({ members: [{ name: "A", role: "x" }] })
    const error = parseError(Team, "<team><members><item><name>A</name></item></members></team>")
    expect(error.reason).toContain("- <team>/<members>/item 1/<role>: Missing <role></role> element")
  })

  it("rigging's repeated-element and wrapped lists, attributes tolerated", () => {
    const NameWithThings = Model.xml(
      "name-with-things",
      Schema.Struct({ name: Schema.String, thing: Schema.Array(Schema.String) })
    )
    expect(
      parseSync(
        NameWithThings,
        `<name-with-things name="test">\n  <thing>a</thing>\n  <thing>b</thing>\n</name-with-things>`
      )
    )
      .toEqual({ name: "test", thing: ["a", "b"] })
    const Wrapped = Model.xml("wrapped", Schema.Array(Schema.String))
    expect(
      parseSync(Wrapped, `<wrapped>\n  <inner type="cat">meow</inner>\n  <inner type="dog">bark</inner>\n</wrapped>`)
    )
      .toEqual(["meow", "bark"])
  })

  it("classes, records and tuples", () => {
    class Point extends Schema.Class<Point>("Point")({ x: Schema.Finite, y: Schema.Finite }) {}
    const point = parseSync(Model.xml("point", Point), "<point><x>1</x><y>-2</y></point>")
    expect(point).toBeInstanceOf(Point)
    expect(point).toEqual(new Point({ x: 1, y: -2 }))
    const Scores = Model.xml("scores", Schema.Record(Schema.String, Schema.Finite))
    expect(parseSync(Scores, "<scores><alice>3</alice><bob>4.5</bob></scores>")).toEqual({ alice: 3, bob: 4.5 })
    const Pair = Model.xml("pair", Schema.Tuple([Schema.String, Schema.Int]))
    expect(parseSync(Pair, "<pair><first>a</first><second>2</second></pair>")).toEqual(["a", 2])
  })

  it("instructions show the expected XML", () => {
    expect(Person.instructions).toBe(
      `Put your answer inside <person></person> tags, in this format:
<person>
  <name>text</name>
  <age>an integer</age>
  <hobbies>
    <item>text</item>
    ...
  </hobbies>
  <nick>text (optional)</nick>
</person>`
    )
    const Labelled = Model.xml(
      "label",
      Schema.Struct({
        sentiment: Schema.Literals(["positive", "negative"]),
        reason: Schema.String.annotate({ description: "one sentence" }),
        sure: Schema.Boolean
      })
    )
    expect(Labelled.instructions).toContain("<sentiment>positive | negative</sentiment>")
    expect(Labelled.instructions).toContain("<reason>one sentence</reason>")
    expect(Labelled.instructions).toContain("<sure>true or false</sure>")
    expect(Model.xml("n", Schema.Number).instructions).toBe(
      "Put your answer inside <n></n> tags, like this:\n<n>a number</n>"
    )
    expect(Model.xml("n", Schema.Number, { instructions: "Just the number." }).instructions).toBe("Just the number.")
  })

  it("a tag that is not an XML name is refused at definition", () => {
    expect(() => Model.xml("my answer", Schema.String)).toThrow(/not an XML tag name/)
    expect(() => Model.xml("", Schema.String)).toThrow(/not an XML tag name/)
  })
})

describe("built-in models", () => {
  it("Answer", () => {
    expect(Model.Answer.name).toBe("answer")
    expect(Model.Answer._tag).toBe("XmlModel")
    expect(Model.Answer.structured).toBeUndefined()
    expect(parseSync(Model.Answer, "<answer>\n    Paris\n</answer>")).toBe("Paris")
  })

  it("CommaDelimitedAnswer", () => {
    const read = (inner: string) =>
      parseSync(Model.CommaDelimitedAnswer, `<comma-delimited-answer>${inner}</comma-delimited-answer>`)
    expect(Model.CommaDelimitedAnswer.name).toBe("comma-delimited-answer")
    expect(read("hello,world")).toEqual(["hello", "world"])
    expect(read("hello, world")).toEqual(["hello", "world"])
    expect(read("hello, world, ")).toEqual(["hello", "world"])
    expect(read("hello")).toEqual(["hello"])
    expect(read("hello;test;stuff")).toEqual(["hello;test;stuff"])
    expect(read(` "a" , 'b',,\n c `)).toEqual(["a", "b", "c"])
  })

  it("DelimitedAnswer uses the delimiter the text uses", () => {
    const read = (inner: string) => parseSync(Model.DelimitedAnswer, `<delimited-answer>${inner}</delimited-answer>`)
    expect(read("\n  - hello\n  - world\n")).toEqual(["hello", "world"])
    expect(read("\n1. Paris, France\n2) Rome, Italy\n* Oslo\n")).toEqual(["Paris, France", "Rome, Italy", "Oslo"])
    expect(read("hello, world, foo | bar")).toEqual(["hello", "world", "foo | bar"])
    expect(read("a; b; c, d")).toEqual(["a", "b", "c, d"])
    expect(read("a | b | c")).toEqual(["a", "b", "c"])
    expect(read("hello world")).toEqual(["hello world"])
    expect(read("well-known / 24/7")).toEqual(["well-known / 24/7"])
  })

  it("YesNoAnswer", () => {
    const read = (inner: string) => Model.tryParse(Model.YesNoAnswer, `<yes-no-answer>${inner}</yes-no-answer>`)
    for (const yes of ["yes", "Yes", "YES.", "y", "true", "True", "**Yes**", "yes, because"]) {
      expect(read(yes)).toEqual(Option.some(true))
    }
    for (const no of ["no", "No, extra stuff", "No, stuff <internal-tag>", "n", "FALSE", "no!"]) {
      expect(read(no)).toEqual(Option.some(false))
    }
    for (const bad of ["Invalid", "N/A", "yesterday", "maybe", "nope"]) expect(read(bad)).toEqual(Option.none())
    expect(parseError(Model.YesNoAnswer, "<yes-no-answer>Invalid</yes-no-answer>").reason)
      .toContain("- <yes-no-answer>: Expected yes or no, got \"Invalid\"")
  })

  it("NumberAnswer: one number, thousands separators in groups of three", () => {
    const read = (inner: string) => Model.tryParse(Model.NumberAnswer, `<number-answer>${inner}</number-answer>`)
    expect(read("42")).toEqual(Option.some(42))
    expect(read(" -3.5 ")).toEqual(Option.some(-3.5))
    expect(read("+.5")).toEqual(Option.some(0.5))
    expect(read("1,234.5")).toEqual(Option.some(1234.5))
    expect(read("1,234,567")).toEqual(Option.some(1234567))
    expect(read("1e3")).toEqual(Option.some(1000))
    for (const bad of ["1,5", "12,34", "42 apples", "about 40", "", "-", "1e400", "NaN"]) {
      expect(read(bad)).toEqual(Option.none())
    }
    expect(parseError(Model.NumberAnswer, "<number-answer>42 apples</number-answer>").reason)
      .toContain("got \"42 apples\"")
  })
})

describe("parse, tryParse, parseMany, parseSet", () => {
  it("a missing tag fails with a reason for the model", () => {
    const error = parseError(Model.YesNoAnswer, "I think so.")
    expect(error._tag).toBe("ParseError")
    expect(error.model).toBe("yes-no-answer")
    expect(error.reason).toBe(
      "Missing <yes-no-answer></yes-no-answer> tags in your response. " + Model.YesNoAnswer.instructions
    )
    expect(error.message).toContain("yes-no-answer")
    expect(parseError(Model.Answer, "<answer>The answer is 4").reason).toBe(
      "Missing <answer></answer> tags in your response (an opening <answer> is never closed by </answer>). " +
        Model.Answer.instructions
    )
  })

  it("curried forms work in pipelines", () => {
    expect(Effect.runSync(Effect.succeed("<answer>hi</answer>").pipe(Effect.flatMap(Model.parse(Model.Answer))))).toBe(
      "hi"
    )
    expect(pipe("<answer>a</answer><answer>b</answer>", Model.parseMany(Model.Answer), Effect.runSync)).toEqual([
      "a",
      "b"
    ])
    expect(pipe("no tags", Model.tryParse(Model.Answer))).toEqual(Option.none())
    expect(pipe("<answer>x</answer><answer>x</answer>", Model.parseSet(Model.Answer), Effect.runSync)).toEqual(["x"])
  })

  it("tryParse", () => {
    expect(Model.tryParse(Model.Answer, "<answer>ok</answer>")).toEqual(Option.some("ok"))
    expect(Model.tryParse(Model.Answer, "nothing")).toEqual(Option.none())
    expect(Model.tryParse(Model.NumberAnswer, "<number-answer>x</number-answer>")).toEqual(Option.none())
  })

  it("parseMany fails on none, and names the occurrence that does not decode", () => {
    expect(Effect.runSync(Effect.flip(Model.parseMany(Model.Answer, "none"))).reason).toMatch(
      /^Missing <answer><\/answer> tags/
    )
    const error = Effect.runSync(Effect.flip(
      Model.parseMany(Model.NumberAnswer, "<number-answer>1</number-answer> <number-answer>two</number-answer>")
    ))
    expect(error.reason).toContain("The 2nd <number-answer></number-answer> element in your response is invalid:")
    expect(error.reason).toContain("got \"two\"")
  })

  it("parseSet keeps distinct values in first-seen order and enforces minCount", () => {
    const input = "<answer>red</answer><answer>blue</answer><answer>red</answer>"
    expect(Effect.runSync(Model.parseSet(Model.Answer, input))).toEqual(["red", "blue"])
    expect(Effect.runSync(Model.parseSet(Model.Answer, input, { minCount: 2 }))).toEqual(["red", "blue"])
    const error = Effect.runSync(Effect.flip(Model.parseSet(Model.Answer, input, { minCount: 3 })))
    expect(error.reason).toMatch(
      /^Your response has 2 distinct <answer><\/answer> elements, but at least 3 are needed\. Answer again with at least 3 different <answer><\/answer> elements\./
    )
    const Pair = Model.xml("pair", Schema.Struct({ a: Schema.Int, b: Schema.Array(Schema.String) }))
    const pairs = "<pair><a>1</a><b>x</b></pair><pair><a>1</a><b>x</b></pair><pair><a>1</a><b>y</b></pair>"
    expect(Effect.runSync(Model.parseSet(Pair, pairs))).toEqual([{ a: 1, b: ["x"] }, { a: 1, b: ["y"] }])
    expect(Effect.runSync(
      Model.parseSet(Model.CommaDelimitedAnswer, { minCount: 1 })(
        "<comma-delimited-answer>a, b</comma-delimited-answer><comma-delimited-answer>a,b</comma-delimited-answer>"
      )
    )).toEqual([["a", "b"]])
  })

  it("models are pipeable values", () => {
    expect(Model.Answer.pipe((model) => model.name)).toBe("answer")
    expect(Model.isModel(Model.Answer)).toBe(true)
    expect(Model.isModel({ name: "answer" })).toBe(false)
  })
})

describe("Model.json", () => {
  const Person = Model.json(
    Schema.Struct({ name: Schema.String, age: Schema.Int, tags: Schema.Array(Schema.String) }),
    { name: "person", description: "A person" }
  )
  const ada = { name: "Ada", age: 36, tags: ["math"] }

  it("finds the JSON: whole text, fenced, embedded in prose", () => {
    expect(parseSync(Person, ` ${JSON.stringify(ada)}\n`)).toEqual(ada)
    expect(parseSync(Person, `Sure!\n\`\`\`json\n${JSON.stringify(ada, null, 2)}\n\`\`\`\nAnything else?`)).toEqual(ada)
    expect(parseSync(Person, `Sure!\n\`\`\`\n${JSON.stringify(ada)}\n\`\`\``)).toEqual(ada)
    expect(parseSync(Person, `The person is {"name": "Ada", "age": 36, "tags": ["a}b", "[x"]} as {requested}.`))
      .toEqual({ name: "Ada", age: 36, tags: ["a}b", "[x"] })
    const Numbers = Model.json(Schema.Array(Schema.Finite))
    expect(parseSync(Numbers, "Here: [1, 2.5, -3] done")).toEqual([1, 2.5, -3])
  })

  it("a fenced block wins over braces in prose; the first value that decodes is taken", () => {
    expect(parseSync(Person, `Use {braces} like this:\n\`\`\`json\n${JSON.stringify(ada)}\n\`\`\``)).toEqual(ada)
    expect(parseSync(Person, `{"name": 1} then ${JSON.stringify(ada)}`)).toEqual(ada)
    expect(
      manySync(
        Person,
        `\`\`\`json\n${JSON.stringify(ada)}\n\`\`\` and \`\`\`json\n${JSON.stringify({ ...ada, age: 37 })}\n\`\`\``
      )
        .map((person) => person.age)
    ).toEqual([36, 37])
  })

  it("an invalid value fails with the JSON path of each field at fault", () => {
    const error = parseError(Person, `{"name": "Ada", "age": 36.5, "tags": ["a", 2]}`)
    expect(error.model).toBe("person")
    expect(error.reason).toContain("The JSON value in your response is invalid:")
    expect(error.reason).toContain("- $.age: Expected an integer, got 36.5")
    expect(error.reason).toContain("- $.tags[1]: Expected string, got 2")
    expect(parseError(Person, `{"name": "Ada", "tags": []}`).reason)
      .toContain("- $.age: Missing required property \"age\"")
  })

  it("no JSON, or broken JSON, says so", () => {
    expect(parseError(Person, "I don't know.").reason).toBe(`Your response contains no JSON. ${Person.instructions}`)
    expect(parseError(Person, "```json\n{\"name\": \"Ada\",}\n```").reason)
      .toMatch(/^The JSON in your response is not valid \(.+\)\. Answer with JSON/)
  })

  it("structured output: the JSON Schema from Schema.toJsonSchemaDocument", () => {
    expect(Person._tag).toBe("JsonModel")
    expect(Person.name).toBe("person")
    expect(Person.structured.name).toBe("person")
    expect(Person.structured.description).toBe("A person")
    const schema = Person.structured.schema
    expect(schema.type).toBe("object")
    expect(schema.additionalProperties).toBe(false)
    expect(schema.required).toEqual(["name", "age", "tags"])
    expect(schema.properties).toMatchObject({
      name: { type: "string" },
      age: { type: "integer" },
      tags: { type: "array", items: { type: "string" } }
    })
    expect(Person.instructions).toBe(`Answer with JSON that matches this JSON Schema:\n${JSON.stringify(schema)}`)
  })

  it("names come from the option, the identifier annotation, or default to json; definitions go under $defs", () => {
    class Point extends Schema.Class<Point>("Point")({ x: Schema.Finite, y: Schema.Finite }) {}
    const Line = Model.json(Schema.Struct({ from: Point, to: Point }).annotate({ identifier: "my line!" }))
    expect(Line.name).toBe("my line!")
    expect(Line.structured.name).toBe("my_line_")
    // The root is inlined (providers want an object there); the class it uses stays a definition.
    expect(Line.structured.schema.type).toBe("object")
    expect(Line.structured.schema.additionalProperties).toBe(false)
    const properties = Line.structured.schema.properties as Record<string, { $ref: string }>
    const defs = Line.structured.schema.$defs as Record<string, { additionalProperties: unknown }>
    expect(Object.keys(defs)).toEqual([properties.from!.$ref.replace("#/$defs/", "")])
    expect(Object.values(defs)[0]!.additionalProperties).toBe(false)
    expect(parseSync(Line, `{"from": {"x": 0, "y": 0}, "to": {"x": 1, "y": 2}}`).to).toEqual(new Point({ x: 1, y: 2 }))
    interface Tree {
      readonly value: number
      readonly children: ReadonlyArray<Tree>
    }
    const Tree: Schema.Codec<Tree> = Schema.Struct({
      value: Schema.Finite,
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
    }).annotate({ identifier: "Tree" })
    const TreeModel = Model.json(Tree)
    expect(TreeModel.structured.schema.type).toBe("object")
    expect(Object.keys(TreeModel.structured.schema.$defs as object)).toEqual(["Tree"])
    expect(parseSync(TreeModel, `{"value": 1, "children": [{"value": 2, "children": []}]}`).children[0]?.value).toBe(2)
    const Anonymous = Model.json(Schema.Struct({ a: Schema.String }))
    expect(Anonymous.name).toBe("json")
    expect(Anonymous.structured.description).toBeUndefined()
    expect(Model.json(Schema.Json).instructions).toBe("Answer with JSON.")
  })
})

describe("scanning cost stays linear on hostile input", () => {
  // ~100 KB each: linear scanning takes milliseconds, anything quadratic takes minutes.
  const timed = (f: () => unknown): number => {
    const start = performance.now()
    f()
    return performance.now() - start
  }
  it("unclosed tags, unterminated attributes, comments and CDATA, deep nesting", () => {
    const deep = "<a><b>".repeat(8_000) + "<answer>deep</answer>" + "</b></a>".repeat(8_000)
    const inputs = [
      "<answer ".repeat(15_000),
      "<answer>".repeat(15_000) + "</answer>",
      `<answer a="${"x".repeat(100_000)}`,
      "<!--<![CDATA[".repeat(8_000),
      "</answer>".repeat(12_000),
      deep
    ]
    for (const input of inputs) expect(timed(() => Model.tryParse(Model.Answer, input))).toBeLessThan(1_500)
    expect(Model.tryParse(Model.Answer, deep)).toEqual(Option.some("deep"))
  })
  it("brackets that never make JSON", () => {
    const Json = Model.json(Schema.Struct({ a: Schema.Finite }))
    const inputs = [
      "{[".repeat(50_000),
      "{\"a\": ".repeat(15_000),
      "{x".repeat(30_000) + "}".repeat(30_000),
      "[".repeat(50_000) + "]".repeat(50_000)
    ]
    for (const input of inputs) expect(timed(() => Model.tryParse(Json, input))).toBeLessThan(1_500)
    expect(Model.tryParse(Json, "{x".repeat(30_000) + "}".repeat(30_000) + ` {"a": 1}`)).toEqual(Option.some({ a: 1 }))
  })
})
