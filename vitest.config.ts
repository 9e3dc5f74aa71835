import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Tool-driven checks (npm ci, nginx -t, shellcheck) take seconds each; the budget is per test.
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Two cores: keep parallel heavy suites from starving each other.
    maxWorkers: 2,
  },
});
