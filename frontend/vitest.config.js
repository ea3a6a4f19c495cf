import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "jsdom",
    environmentOptions: { jsdom: { url: "http://task.example.org/task/7/" } },
    setupFiles: ["./test/setup.js"],
    include: ["test/**/*.test.{js,jsx}"],
    restoreMocks: true,
  },
});
