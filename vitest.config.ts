import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Tests and examples run against the TypeScript sources: the "@capstan/source" export condition
// points each workspace package at src/ so no build is needed before `vitest run`.
export default defineConfig({
  resolve: { conditions: ["@capstan/source", ...defaultClientConditions] },
  // Vitest hands these to Node as --conditions for the packages it does not transform. Without "module": a
  // "module" export is for bundlers, and some (@opentelemetry/api's) import files without extensions, which Node
  // cannot resolve.
  ssr: {
    resolve: { conditions: ["@capstan/source", ...defaultServerConditions.filter((c) => c !== "module")] }
  },
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/SummaryReporter.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
