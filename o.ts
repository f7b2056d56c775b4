import { Effect, Schema } from "effect"
import * as Model from "/work/main/packages/core/src/Model.ts"
const J = Model.json(Schema.Json, { name: "json" })
console.log(JSON.stringify(J.structured), J.instructions.slice(0, 200))
console.log(Effect.runSync(Model.parse(J, 'ok {"a": [1, null]}')))
const X = Model.xml("x", Schema.Json as any)
console.log(X.instructions)
