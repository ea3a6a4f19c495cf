/* Test setup: the globals a task page's wrap_crowd_source.js defines, and a
 * fetch that answers from a table of routes (see helpers.js). */
import { afterEach, beforeEach, vi } from "vitest";
import { cleanup } from "@testing-library/react";
import { installPageGlobals, installFakeServer } from "./helpers.js";

beforeEach(() => {
  installPageGlobals();
  installFakeServer();
  Object.defineProperty(window.navigator, "userAgent", {
    value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
    configurable: true,
  });
  vi.spyOn(console, "log").mockImplementation(() => {});
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});
