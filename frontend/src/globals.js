/* The task page's wrap_crowd_source.js defines these as globals before the
 * bundle runs: getWorkerName, getAssignmentId, getAgentRegistration,
 * handleSubmitToProvider and (optionally) getProviderURLParams. They are read
 * from the global object when called, never at import time. */

export function readGlobal(name) {
  return typeof globalThis === "undefined" ? undefined : globalThis[name];
}

export function callGlobal(name, ...args) {
  const fn = readGlobal(name);
  if (typeof fn !== "function") {
    throw new Error(
      `crowdsite-task: the page does not define ${name}(); ` +
        "load the provider's wrap_crowd_source.js before the task bundle"
    );
  }
  return fn(...args);
}

/* Query parameters to add to every request (the run: `{task_run_id}`).
 * Like mephisto-task, getProviderURLParams may be a function or a plain object,
 * and may be missing altogether. */
export function resolveProviderURLParams() {
  const value = readGlobal("getProviderURLParams");
  if (value === undefined || value === null) return null;
  return typeof value === "function" ? value() : value;
}
