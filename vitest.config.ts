import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two projects: unit tests need no PostgreSQL server (`pnpm test:unit`), integration tests
    // get the throw-away cluster the global setup starts. `pnpm test` runs both.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['scripts/test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['scripts/test/integration/**/*.test.ts'],
          globalSetup: ['scripts/test/global-setup.ts'],
        },
      },
    ],
    // Integration tests spawn the CLI and pg_dump; give slow machines room without hiding hangs.
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // GitHub's workflow parser imports JSON without import attributes, which Node's own loader
    // refuses; let vitest transform it.
    server: { deps: { inline: ['@actions/workflow-parser'] } },
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
