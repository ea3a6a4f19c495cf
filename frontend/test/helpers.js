import { vi } from "vitest";

export const RUN_ID = 7;

/* The globals of wrap_crowd_source.js (mock provider), as vi.fn()s. */
export function installPageGlobals({ worker = "w-1", assignment = "a-1" } = {}) {
  const globals = {
    getWorkerName: vi.fn(() => worker),
    getAssignmentId: vi.fn(() => assignment),
    getAgentRegistration: vi.fn(() => ({
      worker_name: worker,
      assignment_id: assignment,
      agent_registration_id: `${worker}-${assignment}`,
      provider_type: "mock",
      hit_id: null,
    })),
    handleSubmitToProvider: vi.fn(() => true),
    getProviderURLParams: vi.fn(() => ({ task_run_id: RUN_ID })),
  };
  for (const [name, fn] of Object.entries(globals)) vi.stubGlobal(name, fn);
  return globals;
}

export const TASK_CONFIG = {
  task_title: "Rate a sentence",
  task_description: "Good or bad?",
  task_reward: 0.05,
  task_tags: "test",
  frame_height: 0,
  chat_title: "Rate a sentence",
  block_mobile: false,
  has_onboarding: true,
  provider_type: "mock",
  task_run_id: RUN_ID,
  mephisto_task_version: "2.0.4",
};

export function agentDetails({ agent_id, worker_id = "17", init_task_data = null, failure_reason = null }) {
  return { packet_type: "agent_details", data: { worker_id, agent_id, init_task_data, failure_reason } };
}

/* A fake server: `routes` maps "METHOD /path" to an answer (a JSON body, a
 * `{status, body}` via reply(), a function of the call, or an Error to throw
 * as a network failure). Every call is recorded in `server.calls`. */
export function reply(status, body) {
  return { __reply: true, status, body };
}

export function installFakeServer(routes = {}) {
  const server = {
    routes: {
      "GET /task_config.json": TASK_CONFIG,
      "POST /request_agent": agentDetails({ agent_id: "agent-abc", init_task_data: { text: "Hello." } }),
      "POST /submit_onboarding": agentDetails({ agent_id: "agent-abc", init_task_data: { text: "Hello." } }),
      "POST /submit_task": { status: "Submitted!" },
      "POST /submit_metadata": { status: "Submitted metadata" },
      "POST /log_error": { status: "Error log sent!" },
      ...routes,
    },
    calls: [],
    callsTo(path) {
      return this.calls.filter((call) => call.path === path);
    },
  };
  const fetch = vi.fn(async (input, init = {}) => {
    const url = new URL(String(input));
    const method = (init.method || "GET").toUpperCase();
    const body = init.body;
    const call = {
      method,
      url,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: init.headers || {},
      init,
      json: typeof body === "string" ? JSON.parse(body) : undefined,
      formData: body instanceof FormData ? body : undefined,
    };
    server.calls.push(call);
    let answer = server.routes[`${method} ${url.pathname}`];
    if (typeof answer === "function") answer = await answer(call);
    if (answer === undefined) answer = reply(404, { error: `no route ${method} ${url.pathname}` });
    if (answer instanceof Error) throw answer;
    const { status, body: out } = answer && answer.__reply ? answer : { status: 200, body: answer };
    const text = typeof out === "string" ? out : JSON.stringify(out);
    return new Response(text, { status, headers: { "Content-Type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetch);
  server.fetch = fetch;
  return server;
}
