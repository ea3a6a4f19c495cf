import { describe, expect, it, vi } from "vitest";
import * as api from "../src/index.js";
import pkg from "../package.json";
import {
  CrowdsiteRequestError,
  configureRequests,
  getBlockedExplanation,
  getTaskConfig,
  isMobile,
  libVersion,
  packageVersion,
  postCompleteOnboarding,
  postCompleteTask,
  postErrorLog,
  postMetadata,
  pythonTime,
  requestAgent,
} from "../src/index.js";
import { RUN_ID, TASK_CONFIG, agentDetails, installFakeServer, reply } from "./helpers.js";

describe("exports", () => {
  it("has mephisto-task's static-task names", () => {
    for (const name of [
      "useMephistoTask", "ErrorBoundary", "getTaskConfig", "requestAgent",
      "postCompleteOnboarding", "postCompleteTask", "postMetadata", "postErrorLog",
      "getBlockedExplanation", "isMobile", "pythonTime", "libVersion", "postData",
      "postProviderRequest", "doesSupportWebsockets",
    ]) {
      expect(api).toHaveProperty(name);
    }
  });

  it("speaks protocol 2.0.4 and knows its own package version", () => {
    expect(libVersion).toBe("2.0.4");
    expect(packageVersion).toBe(pkg.version);
    expect(pkg.name).toBe("crowdsite-task");
    expect(pkg.dependencies ?? {}).toEqual({});
  });
});

describe("helpers", () => {
  it("pythonTime is seconds since the epoch", () => {
    vi.spyOn(Date, "now").mockReturnValue(1700000000123);
    expect(pythonTime()).toBeCloseTo(1700000000.123, 6);
  });

  it("isMobile reads the user agent", () => {
    expect(isMobile()).toBe(false);
    Object.defineProperty(window.navigator, "userAgent", { value: "Mozilla/5.0 (iPad; CPU OS 17_0)", configurable: true });
    expect(isMobile()).toBe(true);
  });

  it("getBlockedExplanation matches mephisto-task's texts", () => {
    expect(getBlockedExplanation("no_mobile")).toBe(
      "Sorry, this task cannot be completed on mobile devices. Please use a computer."
    );
    expect(getBlockedExplanation("no_websockets")).toMatch(/websockets/);
    expect(getBlockedExplanation("whatever")).toBe(
      "Sorry, you are not able to work on this task. (code: whatever)"
    );
    expect(getBlockedExplanation("network_error")).toMatch(/could not be reached/);
    expect(getBlockedExplanation("toString")).toMatch(/code: toString/);
  });

  it("getTaskConfig resolves to the config and warns on a version mismatch", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    installFakeServer();
    await expect(getTaskConfig()).resolves.toEqual(TASK_CONFIG);
    expect(warn).not.toHaveBeenCalled();
    installFakeServer({ "GET /task_config.json": { ...TASK_CONFIG, mephisto_task_version: "9.9.9" } });
    await getTaskConfig();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Version mismatch detected!.*9\.9\.9/));
  });

  it("requestAgent and postCompleteOnboarding resolve to the agent_details packet", async () => {
    const packet = agentDetails({ agent_id: "onboarding-1" });
    const server = installFakeServer({ "POST /request_agent": packet, "POST /submit_onboarding": packet });
    await expect(requestAgent()).resolves.toEqual(packet);
    await expect(postCompleteOnboarding("onboarding-1", { answer: "good" })).resolves.toEqual(packet);
    expect(server.callsTo("/submit_onboarding")[0].json.provider_data).toEqual({
      USED_AGENT_ID: "onboarding-1",
      onboarding_data: { answer: "good" },
    });
  });

  it("postCompleteOnboarding sends a FormData's fields as an object", async () => {
    const server = installFakeServer();
    const form = new FormData();
    form.append("answer", "good");
    form.append("pick", "a");
    form.append("pick", "b");
    await postCompleteOnboarding("onboarding-1", form);
    expect(server.callsTo("/submit_onboarding")[0].json.provider_data.onboarding_data).toEqual({
      answer: "good",
      pick: ["a", "b"],
    });
  });

  it("postCompleteTask keeps an app's own final_data field in a FormData", async () => {
    const server = installFakeServer();
    const form = new FormData();
    form.append("final_data", JSON.stringify({ rating: "bad", nested: { a: 1 } }));
    form.append("ignored", "x");
    form.append("file", new File(["1"], "a.txt"));
    await postCompleteTask("agent-1", form);
    const sent = server.callsTo("/submit_task")[0].formData;
    expect(sent.getAll("final_data")).toEqual([JSON.stringify({ rating: "bad", nested: { a: 1 } })]);
    expect(sent.getAll("USED_AGENT_ID")).toEqual(["agent-1"]);
  });

  it("postCompleteTask sends FormComposer's final_string_data and not its [object Object]", async () => {
    const server = installFakeServer();
    const form = new FormData();
    form.append("final_data", { name: "Ann" }); // a browser sends "[object Object]"
    form.append("final_string_data", JSON.stringify({ name: "Ann" }));
    form.append("avatar", new File(["1"], "a.png"));
    await postCompleteTask("agent-1", form);
    const sent = server.callsTo("/submit_task")[0].formData;
    expect(sent.getAll("final_string_data")).toEqual([JSON.stringify({ name: "Ann" })]);
    expect(sent.has("final_data")).toBe(false);
    expect(sent.get("avatar").name).toBe("a.png");
  });

  it("postMetadata posts a FormData as multipart, its data field as the metadata", async () => {
    const server = installFakeServer({
      "POST /submit_metadata": reply(200, { status: "Submitted metadata" }),
    });
    const form = new FormData();
    form.set("data", JSON.stringify({ worker_opinion: { questions: [] } }));
    form.set("type", "worker_opinion");
    form.append("attachment", new File(["1"], "shot.png"));
    const answer = await postMetadata("agent-1", form);
    const sent = server.callsTo("/submit_metadata")[0].formData;
    expect(answer).toEqual({ status: "Submitted metadata" });
    expect(sent.get("metadata")).toBe(JSON.stringify({ worker_opinion: { questions: [] } }));
    expect(sent.get("USED_AGENT_ID")).toBe("agent-1");
    expect(sent.get("attachment").name).toBe("shot.png");
  });

  it("postCompleteTask rejects and does not call handleSubmitToProvider on failure", async () => {
    installFakeServer({ "POST /submit_task": reply(500, "Internal Server Error") });
    const error = await postCompleteTask("agent-1", { rating: "good" }).catch((e) => e);
    expect(error).toBeInstanceOf(CrowdsiteRequestError);
    expect(error).toMatchObject({ kind: "server", status: 500, endpoint: "/submit_task" });
    expect(error.message).toMatch(/Internal Server Error/);
    expect(globalThis.handleSubmitToProvider).not.toHaveBeenCalled();
  });

  it("postMetadata resolves to the server's answer; postErrorLog to nothing", async () => {
    installFakeServer();
    await expect(postMetadata("agent-1", { a: { type: "a" } })).resolves.toEqual({ status: "Submitted metadata" });
    await expect(postErrorLog("agent-1", { error: "x" })).resolves.toBeUndefined();
  });

  it("a network failure rejects with kind network", async () => {
    installFakeServer({ "POST /log_error": new TypeError("Failed to fetch") });
    await expect(postErrorLog("agent-1", {})).rejects.toMatchObject({
      name: "CrowdsiteRequestError",
      kind: "network",
      endpoint: "/log_error",
    });
  });

  it("works without getProviderURLParams, and with it as a plain object", async () => {
    const server = installFakeServer();
    vi.stubGlobal("getProviderURLParams", undefined);
    await getTaskConfig();
    expect(server.calls[0].query).toEqual({ mephisto_task_version: "2.0.4" });
    vi.stubGlobal("getProviderURLParams", { task_run_id: 12 });
    await getTaskConfig();
    expect(server.calls[1].query.task_run_id).toBe("12");
  });

  it("explains a missing wrap_crowd_source.js global", async () => {
    installFakeServer();
    vi.stubGlobal("getAgentRegistration", undefined);
    expect(() => requestAgent()).toThrow(/does not define getAgentRegistration\(\)/);
  });

  it("configureRequests changes the time limit", async () => {
    vi.useFakeTimers();
    const before = configureRequests();
    try {
      expect(configureRequests({ timeoutMs: 1000 })).toMatchObject({ timeoutMs: 1000 });
      installFakeServer({ "POST /submit_metadata": () => new Promise(() => {}) });
      const pending = postMetadata("agent-1", {}).catch((e) => e);
      await vi.advanceTimersByTimeAsync(1000);
      const error = await pending;
      expect(error.kind).toBe("network");
      expect(error.message).toMatch(/within 1 s/);
      expect(() => configureRequests({ timeoutMs: 0 })).toThrow();
    } finally {
      configureRequests(before);
    }
  });

  it("retries a 503 after its Retry-After and resolves to the next answer", async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const server = installFakeServer({
        "POST /submit_metadata": () =>
          ++calls === 1 ? reply(503, { error: "try again" }) : { status: "Submitted metadata" },
      });
      const pending = postMetadata("agent-1", { a: 1 });
      await vi.advanceTimersByTimeAsync(1000);
      await expect(pending).resolves.toEqual({ status: "Submitted metadata" });
      expect(server.callsTo("/submit_metadata")).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up on 503 after retriesOn503 more tries", async () => {
    vi.useFakeTimers();
    const before = configureRequests();
    try {
      configureRequests({ retriesOn503: 2 });
      const server = installFakeServer({ "POST /submit_metadata": reply(503, { error: "try again" }) });
      const pending = postMetadata("agent-1", {}).catch((e) => e);
      await vi.advanceTimersByTimeAsync(5000);
      const error = await pending;
      expect(error).toMatchObject({ kind: "server", status: 503, serverMessage: "try again" });
      expect(server.callsTo("/submit_metadata")).toHaveLength(3);
    } finally {
      configureRequests(before);
      vi.useRealTimers();
    }
  });

  it("names the run in the query string", async () => {
    const server = installFakeServer();
    await postMetadata("agent-1", {});
    expect(server.calls[0].url.search).toBe(`?task_run_id=${RUN_ID}`);
  });
});
