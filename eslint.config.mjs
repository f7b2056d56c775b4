// Lint and format for the whole workspace. Rules that find bugs come first (promises nobody awaits, unused
// code, `any` leaking into the public API); formatting is dprint's, through Effect's ESLint rule, so one tool
// reports both and `pnpm format` fixes only what is formatting.
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

/** The formatting settings Effect's own repository uses. */
export const dprintConfig = {
  indentWidth: 2,
  lineWidth: 120,
  semiColons: "asi",
  quoteStyle: "alwaysDouble",
  trailingCommas: "never",
  operatorPosition: "maintain",
  "arrowFunction.useParentheses": "force"
}

/** What neither lint nor format reads: build output, scratch space, generated bench programs. */
export const ignores = [
  "**/dist/**",
  "**/node_modules/**",
  ".scratch/**",
  ".vitest/**",
  "bench/results/**",
  "**/coverage/**",
  "**/*.d.ts"
]

export default tseslint.config(
  { ignores },
  {
    files: ["**/*.ts", "**/*.mts"],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    plugins: { "@effect": effect },
    rules: {
      "@effect/dprint": ["error", { config: dprintConfig }],
      // bugs
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", {
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrors: "none"
      }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "object-shorthand": "error",
      // Effect code is generic by design: these fire on every `Effect.gen` body and every Schema value
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/require-yield": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/unbound-method": "off",
      // Schema.Class data types declare their type parameters through a merged interface
      "@typescript-eslint/no-unsafe-declaration-merging": "off",
      // dual APIs tell their call forms apart by `arguments.length`, as Effect's own do
      "prefer-rest-params": "off"
    }
  },
  {
    // the public modules: `any` would erase what the types know for every user
    files: ["packages/*/src/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "error" }
  },
  {
    files: ["test/**/*.ts", "bench/**/*.ts", "examples/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" }
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
    plugins: { "@effect": effect },
    rules: { "@effect/dprint": ["error", { config: dprintConfig }] }
  }
)
