/* Builds the task app into ONE file, build/bundle.js: an IIFE with React inside
 * that renders into <div id="app"> when it loads. The task page
 * (tasks_app/templates/tasks_app/task_page.html) loads the provider's
 * wrap_crowd_source.js first; the app reads its globals from `window` at run time.
 *
 * The build is deterministic (check-bundle.sh rebuilds it and compares). */
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // Library mode leaves process.env.NODE_ENV alone; the page has no `process`.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  resolve: {
    // crowdsite-task is linked from ../../../frontend: make it use this React.
    dedupe: ["react", "react-dom"],
  },
  build: {
    outDir: "build",
    emptyOutDir: false,
    copyPublicDir: false,
    minify: true,
    sourcemap: false,
    target: "es2020",
    reportCompressedSize: false,
    lib: {
      entry: "src/main.jsx",
      name: "StaticReactTask",
      formats: ["iife"],
      fileName: () => "bundle.js",
    },
  },
});
