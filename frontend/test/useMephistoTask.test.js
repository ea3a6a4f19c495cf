import { describe, expect, it, vi } from "vitest";
import { act, renderHook, waitFor } from "@testing-library/react";
import { useMephistoTask } from "../src/index.js";
import {
  RUN_ID,
  TASK_CONFIG,
  agentDetails,
  installFakeServer,
  installPageGlobals,
  reply,
} from "./helpers.js";

function start() {
  return renderHook(() => useMephistoTask());
}

describe("useMephistoTask", () => {
  it("returns every field mephisto-task's hook returns", async () => {
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    for (const key of [
      "providerWorkerId", "mephistoWorkerId", "agentId", "assignmentId", "taskConfig",
      "isPreview", "previewHtml", "isOnboarding", "blockedReason", "blockedExplanation",
      "initialTaskData", "loaded", "isLoading", "handleSubmit", "handleMetadataSubmit",
      "handleFatalError",
    ]) {
      expect(result.current).toHaveProperty(key);
    }
  });

  it("previews without asking for an agent when there is no worker id", async () => {
    installPageGlobals({ worker: null, assignment: null });
    const server = installFakeServer();
    const { result } = start();
    expect(result.current.isPreview).toBe(true);
    expect(result.current.isLoading).toBe(true);
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current).toMatchObject({
      isPreview: true,
      isLoading: false,
      taskConfig: TASK_CONFIG,
      agentId: null,
      blockedReason: null,
      previewHtml: null,
      providerWorkerId: null,
      assignmentId: null,
    });
    expect(server.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /task_config.json"]);
  });

  it("is a preview when only the assignment id is missing", async () => {
    installPageGlobals({ worker: "w-1", assignment: null });
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current.isPreview).toBe(true);
    expect(server.callsTo("/request_agent")).toHaveLength(0);
  });

  it("registers the agent and hands over the initial task data", async () => {
    const globals = installPageGlobals();
    const server = installFakeServer();
    const { result } = start();
    expect(result.current.isLoading).toBe(true);
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current).toMatchObject({
      isPreview: false,
      isOnboarding: false,
      agentId: "agent-abc",
      mephistoWorkerId: "17",
      providerWorkerId: "w-1",
      assignmentId: "a-1",
      initialTaskData: { text: "Hello." },
      blockedReason: null,
      blockedExplanation: null,
    });
    const [call] = server.callsTo("/request_agent");
    expect(call.method).toBe("POST");
    expect(call.headers["Content-Type"]).toBe("application/json");
    expect(call.json.provider_data).toEqual(globals.getAgentRegistration.mock.results[0].value);
    expect(typeof call.json.client_timestamp).toBe("number");
    expect(Math.abs(call.json.client_timestamp - Date.now() / 1000)).toBeLessThan(60);
  });

  it("runs onboarding, then continues with the real agent the server names", async () => {
    const server = installFakeServer({
      "POST /request_agent": agentDetails({ agent_id: "onboarding-xyz" }),
      "POST /submit_onboarding": agentDetails({ agent_id: "agent-real", init_task_data: { text: "The dog barked." } }),
    });
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current).toMatchObject({ isOnboarding: true, agentId: "onboarding-xyz", initialTaskData: null });

    await act(() => result.current.handleSubmit({ answer: "good" }));
    const [call] = server.callsTo("/submit_onboarding");
    expect(call.json).toEqual({
      provider_data: { USED_AGENT_ID: "onboarding-xyz", onboarding_data: { answer: "good" } },
      client_timestamp: expect.any(Number),
    });
    expect(result.current).toMatchObject({
      isOnboarding: false,
      agentId: "agent-real",
      initialTaskData: { text: "The dog barked." },
      blockedReason: null,
    });
    expect(server.callsTo("/submit_task")).toHaveLength(0);
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
  });

  it("blocks a worker who fails onboarding with the server's reason", async () => {
    installFakeServer({
      "POST /request_agent": agentDetails({ agent_id: "onboarding-xyz" }),
      "POST /submit_onboarding": agentDetails({ agent_id: null, failure_reason: "You did not pass onboarding." }),
    });
    const { result } = start();
    await waitFor(() => expect(result.current.isOnboarding).toBe(true));
    await act(() => result.current.handleSubmit({ answer: "bad" }));
    expect(result.current).toMatchObject({
      agentId: null,
      blockedReason: "null_agent_id",
      blockedExplanation: "You did not pass onboarding.",
    });
  });

  it("blocks with null_agent_id and the failure_reason when no agent is given", async () => {
    installFakeServer({
      "POST /request_agent": agentDetails({
        agent_id: null,
        worker_id: "23",
        failure_reason: "You have reached the maximum of 3 units for this task.",
      }),
    });
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("null_agent_id"));
    expect(result.current).toMatchObject({
      agentId: null,
      mephistoWorkerId: "23",
      blockedExplanation: "You have reached the maximum of 3 units for this task.",
      isLoading: true,
    });
  });

  it("falls back to a generic explanation when no failure_reason is given", async () => {
    installFakeServer({ "POST /request_agent": agentDetails({ agent_id: null }) });
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("null_agent_id"));
    expect(result.current.blockedExplanation).toBe(
      "Sorry, you are not able to work on this task. (code: null_agent_id)"
    );
  });

  it("submits the final data, then tells the provider", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
    await act(() => result.current.handleSubmit({ rating: "good" }));
    const [call] = server.callsTo("/submit_task");
    expect(call.method).toBe("POST");
    expect(call.json).toEqual({
      USED_AGENT_ID: "agent-abc",
      final_data: { rating: "good" },
      client_timestamp: expect.any(Number),
    });
    expect(globalThis.handleSubmitToProvider).toHaveBeenCalledTimes(1);
    expect(globalThis.handleSubmitToProvider).toHaveBeenCalledWith({ rating: "good" });
    expect(result.current.blockedReason).toBe(null);
  });

  it("does not tell the provider before the server has the submission", async () => {
    let release;
    const server = installFakeServer({
      "POST /submit_task": () => new Promise((resolve) => (release = resolve)),
    });
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    let done;
    act(() => {
      done = result.current.handleSubmit({ rating: "bad" });
    });
    // A second click while the first is on its way joins it.
    const again = result.current.handleSubmit({ rating: "bad" });
    expect(again).toBe(done);
    await waitFor(() => expect(server.callsTo("/submit_task")).toHaveLength(1));
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
    release({ status: "Submitted!" });
    await act(() => done);
    expect(globalThis.handleSubmitToProvider).toHaveBeenCalledTimes(1);
    expect(server.callsTo("/submit_task")).toHaveLength(1);
  });

  it("submits a FormData as multipart with USED_AGENT_ID, final_data and the files", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    const form = new FormData();
    form.append("rating", "good");
    form.append("comment", "nice");
    form.append("photo", new File(["png-bytes"], "cat.png", { type: "image/png" }));
    form.append("notes", new File(["text"], "notes.txt", { type: "text/plain" }));
    await act(() => result.current.handleSubmit(form));
    const [call] = server.callsTo("/submit_task");
    expect(call.formData).toBeInstanceOf(FormData);
    expect(call.json).toBeUndefined();
    // fetch must set the multipart boundary itself.
    expect(call.headers["Content-Type"]).toBeUndefined();
    const sent = call.formData;
    expect(sent.get("USED_AGENT_ID")).toBe("agent-abc");
    expect(JSON.parse(sent.get("final_data"))).toEqual({ rating: "good", comment: "nice" });
    expect(Number(sent.get("client_timestamp"))).toBeGreaterThan(0);
    expect(sent.get("photo").name).toBe("cat.png");
    expect(await sent.get("photo").text()).toBe("png-bytes");
    expect(sent.get("notes").name).toBe("notes.txt");
    expect(call.query.task_run_id).toBe(String(RUN_ID));
    expect(globalThis.handleSubmitToProvider).toHaveBeenCalledWith(form);
  });

  it("sends final_data {} when a FormData holds only files", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    const form = new FormData();
    form.append("upload", new File(["x"], "a.txt"));
    await act(() => result.current.handleSubmit(form));
    expect(server.callsTo("/submit_task")[0].formData.get("final_data")).toBe("{}");
  });

  it("submits metadata keyed by each argument's type", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    let answer;
    await act(async () => {
      answer = await result.current.handleMetadataSubmit(
        { type: "feedback", text: "fun" },
        { type: "timing", seconds: 12 },
        { no_type: true },
        null
      );
    });
    expect(answer).toEqual({ status: "Submitted metadata" });
    const [call] = server.callsTo("/submit_metadata");
    expect(call.json).toEqual({
      USED_AGENT_ID: "agent-abc",
      metadata: { feedback: { type: "feedback", text: "fun" }, timing: { type: "timing", seconds: 12 } },
      client_timestamp: expect.any(Number),
    });
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
  });

  it("posts a FormData given to handleMetadataSubmit as multipart", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    const form = new FormData();
    form.set("data", JSON.stringify({ worker_opinion: { questions: [] } }));
    form.append("attachment", new File(["x"], "shot.png"));
    await act(() => result.current.handleMetadataSubmit(form));
    const [call] = server.callsTo("/submit_metadata");
    expect(call.formData.get("metadata")).toBe(JSON.stringify({ worker_opinion: { questions: [] } }));
    expect(call.formData.get("USED_AGENT_ID")).toBe("agent-abc");
    expect(call.formData.get("attachment").name).toBe("shot.png");
  });

  it("rejects handleMetadataSubmit's promise when the request fails, without blocking", async () => {
    installFakeServer({ "POST /submit_metadata": reply(400, { error: "invalid request" }) });
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    await expect(result.current.handleMetadataSubmit({ type: "x" })).rejects.toMatchObject({
      kind: "server",
      status: 400,
    });
    expect(result.current.blockedReason).toBe(null);
  });

  it("logs a fatal error to /log_error", async () => {
    const server = installFakeServer();
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    await act(() => result.current.handleFatalError({ error: "boom", errorInfo: { componentStack: "at X" } }));
    const [call] = server.callsTo("/log_error");
    expect(call.json).toEqual({
      USED_AGENT_ID: "agent-abc",
      error_data: { error: "boom", errorInfo: { componentStack: "at X" } },
      client_timestamp: expect.any(Number),
    });
  });

  it("swallows a failure to send the error log (it is already the error path)", async () => {
    installFakeServer({ "POST /log_error": new TypeError("Failed to fetch") });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    await act(() => result.current.handleFatalError({ error: "boom" }));
    expect(errors).toHaveBeenCalled();
    expect(result.current.blockedReason).toBe(null);
  });

  it("blocks phones when the task config says block_mobile", async () => {
    Object.defineProperty(window.navigator, "userAgent", {
      value: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
      configurable: true,
    });
    const server = installFakeServer({ "GET /task_config.json": { ...TASK_CONFIG, block_mobile: true } });
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("no_mobile"));
    expect(result.current.blockedExplanation).toBe(
      "Sorry, this task cannot be completed on mobile devices. Please use a computer."
    );
    expect(result.current.taskConfig.block_mobile).toBe(true);
    expect(server.callsTo("/request_agent")).toHaveLength(0);
  });

  it("lets phones work when block_mobile is off", async () => {
    Object.defineProperty(window.navigator, "userAgent", {
      value: "Mozilla/5.0 (Linux; Android 14) Mobile",
      configurable: true,
    });
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current.blockedReason).toBe(null);
  });

  it("does not block a desktop browser when block_mobile is on", async () => {
    installFakeServer({ "GET /task_config.json": { ...TASK_CONFIG, block_mobile: true } });
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    expect(result.current.blockedReason).toBe(null);
    expect(result.current.agentId).toBe("agent-abc");
  });

  it("adds the page's provider params (task_run_id) to every request", async () => {
    const server = installFakeServer({
      "POST /request_agent": agentDetails({ agent_id: "onboarding-1" }),
    });
    const { result } = start();
    await waitFor(() => expect(result.current.isOnboarding).toBe(true));
    await act(() => result.current.handleSubmit({ answer: "good" }));
    await act(() => result.current.handleMetadataSubmit({ type: "t" }));
    await act(() => result.current.handleFatalError({ error: "e" }));
    await act(() => result.current.handleSubmit({ rating: "good" }));
    expect(server.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /task_config.json",
      "POST /request_agent",
      "POST /submit_onboarding",
      "POST /submit_metadata",
      "POST /log_error",
      "POST /submit_task",
    ]);
    for (const call of server.calls) {
      expect(call.query.task_run_id).toBe(String(RUN_ID));
      expect(call.url.origin).toBe(window.location.origin);
    }
    expect(server.calls[0].query.mephisto_task_version).toBe("2.0.4");
    expect(globalThis.getProviderURLParams).toHaveBeenCalledTimes(server.calls.length);
  });
});

describe("useMephistoTask when requests fail", () => {
  it("shows a network error instead of loading forever when the server is unreachable", async () => {
    installFakeServer({ "POST /request_agent": new TypeError("Failed to fetch") });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("network_error"));
    expect(result.current.blockedExplanation).toMatch(/could not be reached/);
    expect(result.current.blockedExplanation).toMatch(/request_agent/);
    expect(result.current.blockedExplanation).toMatch(/Failed to fetch/);
  });

  it("shows a network error when task_config.json cannot be fetched", async () => {
    installPageGlobals({ worker: null, assignment: null });
    installFakeServer({ "GET /task_config.json": new TypeError("NetworkError") });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("network_error"));
  });

  it("shows a server error with the server's message on an HTTP error", async () => {
    installFakeServer({ "POST /request_agent": reply(404, { error: "there is no task run 7" }) });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("server_error"));
    expect(result.current.blockedExplanation).toMatch(/HTTP 404/);
    expect(result.current.blockedExplanation).toMatch(/there is no task run 7/);
  });

  it("shows a server error when the answer is not JSON", async () => {
    installFakeServer({ "GET /task_config.json": "<html>proxy error</html>" });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("server_error"));
    expect(result.current.blockedExplanation).toMatch(/not JSON/);
  });

  it("blocks with an explanation, and does not tell the provider, when the submission fails", async () => {
    installFakeServer({ "POST /submit_task": new TypeError("Failed to fetch") });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    let outcome = "pending";
    await act(async () => {
      outcome = await result.current.handleSubmit({ rating: "good" });
    });
    expect(outcome).toBeUndefined(); // resolved, not rejected
    expect(result.current.blockedReason).toBe("network_error");
    expect(result.current.blockedExplanation).toMatch(/submit_task/);
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
  });

  it("shows the server's refusal of an upload", async () => {
    installFakeServer({
      "POST /submit_task": reply(415, { error: "file 'x.exe': type .exe is not allowed; allowed: png, txt" }),
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.loaded).toBe(true));
    const form = new FormData();
    form.append("f", new File(["x"], "x.exe"));
    await act(() => result.current.handleSubmit(form));
    expect(result.current.blockedReason).toBe("server_error");
    expect(result.current.blockedExplanation).toMatch(/type \.exe is not allowed/);
  });

  it("gives up on a request that gets no answer in time", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    installFakeServer({ "POST /request_agent": () => new Promise(() => {}) });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await vi.waitFor(() => expect(globalThis.fetch).toHaveBeenCalledTimes(2));
    expect(result.current.blockedReason).toBe(null);
    await act(() => vi.advanceTimersByTimeAsync(30000));
    expect(result.current.blockedReason).toBe("network_error");
    expect(result.current.blockedExplanation).toMatch(/no answer to request_agent within 30 s/);
    // The request was aborted, not left open.
    expect(globalThis.fetch.mock.calls[1][1].signal.aborted).toBe(true);
  });

  it("treats an agent_details answer without agent_id as a server error", async () => {
    installFakeServer({ "POST /request_agent": { packet_type: "agent_details" } });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { result } = start();
    await waitFor(() => expect(result.current.blockedReason).toBe("server_error"));
  });
});
