import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Tests and examples run against the TypeScript sources: the "@capstan/source" export condition
// points each workspace package at src/ so no build is needed before `vitest run`.
export default defineConfig({
  resolve: { conditions: ["@capstan/source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["@capstan/source", ...defaultServerConditions] } },
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/SummaryReporter.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
