/* Sentence rating: a minimal task bundle for crowdsite's task page.
 *
 * It speaks the worker wire protocol directly (request_agent, submit_onboarding,
 * submit_task), the same calls the `mephisto-task` package makes, and renders
 * into <div id="app">. The React version of this example replaces it.
 */
(function () {
  "use strict";

  // The page's wrap_crowd_source.js names the run for every request.
  function withRun(path) {
    var extra = typeof getProviderURLParams === "function" ? getProviderURLParams() : {};
    return path + "?" + new URLSearchParams(extra).toString();
  }

  function post(path, body) {
    return fetch(withRun(path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ client_timestamp: Date.now() / 1000 }, body)),
    }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (text) {
          throw new Error(response.status + " " + text);
        });
      }
      return response.json();
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "onclick") node.addEventListener("click", attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function show(root, nodes) {
    root.replaceChildren.apply(root, nodes);
  }

  function start(root) {
    if (getWorkerName() === null || getAssignmentId() === null) {
      show(root, [el("h2", {}, ["Preview"]),
        el("p", {}, ["Rate sentences as good or bad. Accept the task to begin."])]);
      return;
    }
    post("/request_agent", { provider_data: getAgentRegistration() }).then(function (answer) {
      handleAgent(root, answer.data);
    }).catch(function (error) { fail(root, error); });
  }

  function handleAgent(root, details) {
    if (!details.agent_id) {
      show(root, [el("h2", {}, ["No work for you right now"]),
        el("p", { id: "blocked-reason" }, [details.failure_reason || "No units are left."])]);
      return;
    }
    if (String(details.agent_id).indexOf("onboarding") === 0) {
      onboarding(root, details);
    } else {
      task(root, details);
    }
  }

  function onboarding(root, details) {
    function answer(value) {
      return function () {
        post("/submit_onboarding", {
          provider_data: { USED_AGENT_ID: details.agent_id, onboarding_data: { answer: value } },
        }).then(function (next) { handleAgent(root, next.data); })
          .catch(function (error) { fail(root, error); });
      };
    }
    show(root, [
      el("h2", {}, ["Onboarding"]),
      el("p", {}, ["Is this a good sentence? \u201cThe cat sat on the mat.\u201d"]),
      el("button", { id: "onboarding-good", onclick: answer("good") }, ["Good"]),
      el("button", { id: "onboarding-bad", onclick: answer("bad") }, ["Bad"]),
    ]);
  }

  function task(root, details) {
    var row = details.init_task_data || {};
    function rate(value) {
      return function () {
        post("/submit_task", {
          USED_AGENT_ID: details.agent_id,
          final_data: { rating: value },
        }).then(function () {
          handleSubmitToProvider({ rating: value });
        }).catch(function (error) { fail(root, error); });
      };
    }
    show(root, [
      el("h2", {}, ["Is this sentence good or bad?"]),
      el("blockquote", { id: "sentence" }, [String(row.text || "")]),
      el("button", { id: "rate-good", onclick: rate("good") }, ["Good"]),
      el("button", { id: "rate-bad", onclick: rate("bad") }, ["Bad"]),
    ]);
  }

  function fail(root, error) {
    show(root, [el("h2", {}, ["Something went wrong"]), el("pre", {}, [String(error)])]);
  }

  document.addEventListener("DOMContentLoaded", function () {
    start(document.getElementById("app"));
  });
})();
