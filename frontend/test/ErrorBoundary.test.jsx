import React from "react";
import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import { ErrorBoundary, useMephistoTask } from "../src/index.js";
import { installFakeServer } from "./helpers.js";

function Broken() {
  throw new Error("the task view broke");
}

describe("ErrorBoundary", () => {
  it("renders its children when nothing fails", () => {
    render(
      <ErrorBoundary handleError={vi.fn()}>
        <p>all well</p>
      </ErrorBoundary>
    );
    expect(screen.getByText("all well")).toBeTruthy();
  });

  it("shows the error and reports it to handleError", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const handleError = vi.fn();
    render(
      <ErrorBoundary handleError={handleError}>
        <Broken />
      </ErrorBoundary>
    );
    expect(screen.getByText("Oops! Something went wrong.")).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toMatch(/the task view broke/);
    expect(handleError).toHaveBeenCalledTimes(1);
    const [report] = handleError.mock.calls[0];
    expect(report.error).toBe("the task view broke");
    expect(report.errorInfo.componentStack).toMatch(/Broken/);
    // The report survives JSON (it is sent to /log_error as is).
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it("sends a crash inside a task app to /log_error through handleFatalError", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const server = installFakeServer();
    function App() {
      const { isLoading, handleFatalError } = useMephistoTask();
      if (isLoading) return <p>loading</p>;
      return (
        <ErrorBoundary handleError={handleFatalError}>
          <Broken />
        </ErrorBoundary>
      );
    }
    render(<App />);
    await waitFor(() => expect(server.callsTo("/log_error")).toHaveLength(1));
    const [call] = server.callsTo("/log_error");
    expect(call.json.USED_AGENT_ID).toBe("agent-abc");
    expect(call.json.error_data.error).toBe("the task view broke");
    expect(call.query.task_run_id).toBe("7");
    expect(screen.getByText("Oops! Something went wrong.")).toBeTruthy();
  });
});
