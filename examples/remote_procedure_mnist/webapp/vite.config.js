/* Builds the digit-drawing page into ONE file, build/bundle.js: an IIFE with
 * React and the unmodified mephisto-task package inside, rendering into
 * <div id="app">. crowdsite's task page loads the provider's
 * wrap_crowd_source.js first; mephisto-task calls its globals
 * (getWorkerName, getAssignmentId, getAgentRegistration,
 * handleSubmitToProvider, getProviderURLParams) at run time.
 *
 * The build is deterministic: rebuilding from the same lock file gives the
 * same bytes. */
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // Library mode leaves process.env.NODE_ENV alone; the page has no `process`.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
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
      name: "RemoteProcedureMnist",
      formats: ["iife"],
      fileName: () => "bundle.js",
    },
  },
});
