/* Requests of the worker wire protocol (DESIGN §5), made with fetch.
 *
 * Every helper has the name, arguments and result of its mephisto-task 2.0.4
 * counterpart. Differences, all additive:
 *  - a failed request rejects with a CrowdsiteRequestError (`kind` "network" or
 *    "server", `endpoint`, `status`, `serverMessage`) instead of an axios error;
 *  - requests time out (see configureRequests) instead of waiting forever;
 *  - a 503 answer is retried after its Retry-After (see configureRequests);
 *  - postCompleteTask and postMetadata also accept a FormData (files) and post it
 *    as multipart, as mephisto-core does (FormComposer, the worker-opinion add-on).
 */

import { callGlobal, resolveProviderURLParams } from "./globals.js";
import { libVersion } from "./version.js";

export { libVersion };

const settings = {
  // A JSON request that has no answer after this long counts as a network error.
  timeoutMs: 30000,
  // The same for a multipart submission carrying files.
  uploadTimeoutMs: 300000,
  // A 503 (the server lost its database for a moment) is asked again this many
  // times, after the answer's Retry-After (at most 10 s; 1 s without one).
  retriesOn503: 3,
};

/* Change the request time limits, e.g. configureRequests({timeoutMs: 60000}).
 * Returns the settings now in force. */
export function configureRequests(options = {}) {
  for (const key of Object.keys(settings)) {
    if (options[key] !== undefined) {
      const value = Number(options[key]);
      const least = key === "retriesOn503" ? 0 : 1;
      if (!(value >= least) || !Number.isFinite(value)) {
        throw new Error(
          key === "retriesOn503"
            ? "crowdsite-task: retriesOn503 must be 0 or more"
            : `crowdsite-task: ${key} must be a positive number of ms`
        );
      }
      settings[key] = value;
    }
  }
  return { ...settings };
}

export class CrowdsiteRequestError extends Error {
  constructor(message, { kind, endpoint, status = null, serverMessage = null, cause } = {}) {
    super(message);
    this.name = "CrowdsiteRequestError";
    // "network": no answer (offline, refused, timed out);
    // "server": an answer that is not a success (HTTP error, not JSON).
    this.kind = kind;
    this.endpoint = endpoint;
    this.status = status;
    this.serverMessage = serverMessage;
    if (cause !== undefined) this.cause = cause;
  }
}

/* The absolute URL of `endpoint` with `params` and the page's provider params
 * (which name the run: `task_run_id`) in its query string. */
export function buildURL(endpoint, params = {}) {
  const url = new URL(endpoint, window.location.origin);
  const merged = { ...params, ...(resolveProviderURLParams() || {}) };
  for (const [key, value] of Object.entries(merged)) {
    if (value !== undefined && value !== null) {
      url.searchParams.set(key, String(value));
    }
  }
  return url.toString();
}

function describeServerRefusal(text) {
  let message = null;
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") {
      message = body.error || body.detail || null;
      if (message && body.fields) {
        message += " " + JSON.stringify(body.fields);
      }
    }
  } catch {
    // not JSON: use the text itself below
  }
  if (!message && text) message = text.trim().slice(0, 300);
  return message || null;
}

/* fetch `endpoint` and return its JSON answer; reject with a
 * CrowdsiteRequestError when there is no answer in time or it is not a success. */
function retryDelayMs(response) {
  const seconds = Number(response.headers.get("Retry-After"));
  return Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : 1, 10) * 1000;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function request(
  endpoint,
  { method = "GET", params, json, formData, timeoutMs, retried = 0 } = {}
) {
  const url = buildURL(endpoint, params);
  const limit = timeoutMs ?? (formData ? settings.uploadTimeoutMs : settings.timeoutMs);
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  let timedOut = false;
  let timer;
  // Racing a timer ends the wait even where fetch cannot be aborted.
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      if (controller) controller.abort();
      reject(new Error("timed out"));
    }, limit);
  });
  const name = endpoint.replace(/^\//, "");

  const init = { method, headers: { Accept: "application/json" } };
  if (controller) init.signal = controller.signal;
  if (formData) {
    init.body = formData; // fetch sets the multipart boundary
  } else if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }

  try {
    let response;
    let text;
    try {
      [response, text] = await Promise.race([
        (async () => {
          const answer = await fetch(url, init);
          return [answer, await answer.text()];
        })(),
        timeout,
      ]);
    } catch (cause) {
      throw new CrowdsiteRequestError(
        timedOut
          ? `no answer to ${name} within ${Math.round(limit / 1000)} s`
          : `${name} could not reach the server: ${(cause && cause.message) || cause}`,
        { kind: "network", endpoint, cause }
      );
    }
    if (response.status === 503 && retried < settings.retriesOn503) {
      clearTimeout(timer);
      await sleep(retryDelayMs(response));
      return request(endpoint, { method, params, json, formData, timeoutMs, retried: retried + 1 });
    }
    if (!response.ok) {
      const serverMessage = describeServerRefusal(text);
      throw new CrowdsiteRequestError(
        `the server refused ${name} (HTTP ${response.status})` +
          (serverMessage ? `: ${serverMessage}` : ""),
        { kind: "server", endpoint, status: response.status, serverMessage }
      );
    }
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new CrowdsiteRequestError(`the server's answer to ${name} is not JSON`, {
        kind: "server",
        endpoint,
        status: response.status,
        cause,
      });
    }
  } finally {
    clearTimeout(timer);
  }
}

export function postData(url = "", data = {}) {
  return request(url, { method: "POST", json: data });
}

export function pythonTime() {
  return Date.now() / 1000;
}

// Determine if the browser is a mobile phone (the same test as mephisto-task).
export function isMobile() {
  const agent = (typeof navigator !== "undefined" && navigator.userAgent) || "";
  return /Android|webOS|iPhone|iPad|iPod|BlackBerry|IEMobile|Opera Mini/i.test(agent);
}

export function doesSupportWebsockets() {
  return typeof WebSocket === "function";
}

// Sends a request to get the task_config
export function getTaskConfig() {
  return request("/task_config.json", {
    params: { mephisto_task_version: libVersion },
  }).then((taskConfig) => {
    if (taskConfig && taskConfig.mephisto_task_version !== libVersion) {
      console.warn(
        "Version mismatch detected! Local `crowdsite-task` package speaks the " +
          "mephisto-task protocol version " +
          libVersion +
          " but the server expected version " +
          (taskConfig.mephisto_task_version ?? "(none)") +
          "."
      );
    }
    return taskConfig;
  });
}

export function postProviderRequest(endpoint, data) {
  return postData(endpoint, { provider_data: data, client_timestamp: pythonTime() });
}

export function requestAgent() {
  return postProviderRequest("/request_agent", callGlobal("getAgentRegistration"));
}

export function postCompleteOnboarding(agent_id, onboarding_data) {
  return postProviderRequest("/submit_onboarding", {
    USED_AGENT_ID: agent_id,
    onboarding_data: isFormData(onboarding_data)
      ? formDataFields(onboarding_data)
      : onboarding_data,
  });
}

export function isFormData(value) {
  return typeof FormData === "function" && value instanceof FormData;
}

function isFile(value) {
  return typeof Blob === "function" && value instanceof Blob;
}

const RESERVED_FIELDS = new Set([
  "USED_AGENT_ID",
  "final_data",
  "final_string_data",
  "client_timestamp",
]);

/* The non-file fields of a FormData as an object (a repeated name gives a list). */
export function formDataFields(formData) {
  const fields = {};
  for (const [key, value] of formData.entries()) {
    if (isFile(value) || RESERVED_FIELDS.has(key)) continue;
    if (Object.prototype.hasOwnProperty.call(fields, key)) {
      fields[key] = [].concat(fields[key], value);
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

/* The multipart body for /submit_task: USED_AGENT_ID, the answers, client_timestamp
 * and every file under its own field name. The answers are the app's own
 * `final_string_data` when it set one (FormComposer's JSON text; the server then
 * reads nothing else, as Mephisto's does), else its own `final_data` text, else
 * the non-file fields as JSON ("{}" when none). */
export function buildTaskFormData(agent_id, formData) {
  const body = new FormData();
  body.append("USED_AGENT_ID", agent_id);
  const asString = formData.get("final_string_data");
  const own = formData.get("final_data");
  if (typeof asString === "string" && asString !== "") {
    body.append("final_string_data", asString);
  } else {
    body.append(
      "final_data",
      typeof own === "string" ? own : JSON.stringify(formDataFields(formData))
    );
  }
  body.append("client_timestamp", String(pythonTime()));
  for (const [key, value] of formData.entries()) {
    if (isFile(value) && !RESERVED_FIELDS.has(key)) {
      body.append(key, value, value.name || key);
    }
  }
  return body;
}

export function postCompleteTask(agent_id, complete_data) {
  const sent = isFormData(complete_data)
    ? request("/submit_task", {
        method: "POST",
        formData: buildTaskFormData(agent_id, complete_data),
      })
    : postData("/submit_task", {
        USED_AGENT_ID: agent_id,
        final_data: complete_data,
        client_timestamp: pythonTime(),
      });
  return sent
    .then((data) => {
      callGlobal("handleSubmitToProvider", complete_data);
      return data;
    })
    .then(function () {
      console.log("Submitted");
    });
}

/* The multipart body for /submit_metadata from a FormData, as mephisto-core's
 * multipart postMetadata makes it: its fields and files, `metadata` being its
 * own `metadata` field or else its `data` field (the worker-opinion add-on's). */
export function buildMetadataFormData(agent_id, formData) {
  const body = new FormData();
  for (const [key, value] of formData.entries()) {
    if (key === "USED_AGENT_ID" || key === "client_timestamp") continue;
    if (isFile(value)) body.append(key, value, value.name || key);
    else body.append(key, value);
  }
  if (!formData.has("metadata") && typeof formData.get("data") === "string") {
    body.set("metadata", formData.get("data"));
  }
  body.set("USED_AGENT_ID", agent_id);
  body.set("client_timestamp", String(pythonTime()));
  return body;
}

export function postMetadata(agent_id, metadata) {
  if (isFormData(metadata)) {
    return request("/submit_metadata", {
      method: "POST",
      formData: buildMetadataFormData(agent_id, metadata),
    });
  }
  return postData("/submit_metadata", {
    USED_AGENT_ID: agent_id,
    metadata: metadata,
    client_timestamp: pythonTime(),
  });
}

export function postErrorLog(agent_id, complete_data) {
  return postData("/log_error", {
    USED_AGENT_ID: agent_id,
    error_data: complete_data,
    client_timestamp: pythonTime(),
  }).then(function () {});
}

const EXPLANATIONS = {
  no_mobile:
    "Sorry, this task cannot be completed on mobile devices. Please use a computer.",
  no_websockets:
    "Sorry, your browser does not support the required version of websockets for this task. Please upgrade to a modern browser.",
  network_error:
    "Sorry, the task server could not be reached. Please check your connection and reload the page.",
  server_error:
    "Sorry, the task server could not handle a request from this page. Please reload the page; if this keeps happening, contact the requester.",
};

export function getBlockedExplanation(reason) {
  if (Object.prototype.hasOwnProperty.call(EXPLANATIONS, reason)) {
    return EXPLANATIONS[reason];
  }
  return `Sorry, you are not able to work on this task. (code: ${reason})`;
}

/* blockedReason and blockedExplanation for a failed request (see README). */
export function describeRequestFailure(error) {
  const server = error && error.kind === "server";
  const detail = (error && error.message) || String(error);
  return {
    blockedReason: server ? "server_error" : "network_error",
    blockedExplanation: server
      ? `Sorry, the task server could not handle a request from this page (${detail}). ` +
        "Please reload the page; if this keeps happening, contact the requester."
      : `Sorry, the task server could not be reached (${detail}). ` +
        "Please check your connection and reload the page.",
  };
}
