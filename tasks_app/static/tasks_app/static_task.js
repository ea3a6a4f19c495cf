/* crowdsite: the page of a `static_task` run (Mephisto's static HTML blueprint).
 *
 * The requester's HTML template is filled with the unit's data row, every value
 * HTML-escaped, and shown in an iframe sandboxed WITHOUT allow-same-origin. Its
 * origin is opaque, so nothing in it (the requester's scripts, or a data row that
 * slipped past escaping) can read this site's cookies, call the admin as a
 * logged-in requester, or reach into this page. A small script injected into the
 * frame turns the template's form submit into a postMessage; this page accepts
 * messages only from that frame and does all the talking to the server, so the
 * frame never sees the agent id.
 *
 * Uses the globals of wrap_crowd_source.js: CROWDSITE, getWorkerName,
 * getAssignmentId, getAgentRegistration, getProviderURLParams,
 * handleSubmitToProvider.
 */
(function () {
  "use strict";

  var settings = CROWDSITE.static_task || { templates: {} };
  var app = document.getElementById("app");
  var state = { mode: null, agentId: null, frame: null, busy: false };

  /* ---------------- talking to the server ---------------- */

  function apiURL(path) {
    return path + "?" + new URLSearchParams(getProviderURLParams()).toString();
  }

  function answer(response) {
    return response.text().then(function (text) {
      var body = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch (error) {
        body = null;
      }
      if (!response.ok) {
        var why = body && body.error ? body.error : text || response.statusText;
        throw new Error(why + " (HTTP " + response.status + ")");
      }
      return body;
    });
  }

  function postJSON(path, body) {
    return fetch(apiURL(path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(answer);
  }

  function now() {
    return Date.now() / 1000;
  }

  function loadTemplate(kind) {
    return fetch(settings.templates[kind], { credentials: "omit" }).then(
      function (response) {
        return response.text().then(function (text) {
          if (!response.ok) {
            throw new Error("The " + kind + " page could not be loaded: " + text);
          }
          return text;
        });
      }
    );
  }

  /* ---------------- filling the template ---------------- */

  // Everything that could end text or an attribute value, quoted or not, becomes
  // a character reference; the browser shows the same characters as text.
  var ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    "`": "&#96;",
    "=": "&#61;",
    " ": "&#32;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
    "\f": "&#12;",
  };

  function escapeHTML(value) {
    return value.replace(/[&<>"'`= \t\n\r\f]/g, function (character) {
      return ESCAPES[character];
    });
  }

  function asText(value) {
    if (value === null || value === undefined) {
      return "";
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  /* `${key}` -> the row's value, escaped. One pass, so a value that itself looks
   * like `${other}` is shown as it is; unknown placeholders are left alone. */
  function fillTemplate(template, values) {
    return template.replace(/\$\{([^{}]+)\}/g, function (placeholder, key) {
      if (!Object.prototype.hasOwnProperty.call(values, key)) {
        return placeholder;
      }
      return escapeHTML(asText(values[key]));
    });
  }

  /* ---------------- the script injected into the frame ---------------- */

  /* Runs inside the sandboxed frame (serialised with toString). It must not
   * contain the text that ends a script element. */
  function frameScript(mode, parentOrigin) {
    var sent = false;

    function post(message) {
      window.parent.postMessage(message, parentOrigin);
    }

    function submitButtons() {
      return document.querySelectorAll(
        "button:not([type]), button[type=submit], input[type=submit], input[type=image]"
      );
    }

    function setSubmitting(submitting) {
      Array.prototype.forEach.call(submitButtons(), function (button) {
        button.disabled = submitting;
      });
    }

    function fieldsOf(form, submitter) {
      var data;
      try {
        data = new FormData(form, submitter || null);
      } catch (error) {
        data = new FormData(form);
      }
      var fields = {};
      var files = [];
      data.forEach(function (value, name) {
        if (typeof value !== "string") {
          if (!value.name && !value.size) {
            value = "";
          } else {
            files.push({ field: name, file: value });
            value = {
              name: value.name,
              size: value.size,
              type: value.type,
              lastModified: value.lastModified,
            };
          }
        }
        if (!Object.prototype.hasOwnProperty.call(fields, name)) {
          fields[name] = value;
        } else if (Array.isArray(fields[name])) {
          fields[name].push(value);
        } else {
          fields[name] = [fields[name], value];
        }
      });
      return { fields: fields, files: files };
    }

    function send(form, submitter) {
      if (mode === "preview" || sent) {
        return;
      }
      sent = true;
      setSubmitting(true);
      var found = fieldsOf(form, submitter);
      // Files go as bytes: Chromium won't upload a File object that came from
      // an opaque origin, so the page rebuilds them.
      Promise.all(
        found.files.map(function (item) {
          return item.file.arrayBuffer().then(function (bytes) {
            return {
              field: item.field,
              name: item.file.name,
              type: item.file.type,
              lastModified: item.file.lastModified,
              bytes: bytes,
            };
          });
        })
      ).then(
        function (files) {
          post({ crowdsite: "submit", fields: found.fields, files: files });
        },
        function () {
          sent = false;
          setSubmitting(false);
        }
      );
    }

    // A template's own submit handler may still call preventDefault() (its own
    // validation, say) to stop the submission; the frame itself never navigates.
    window.addEventListener(
      "submit",
      function (event) {
        var form = event.target;
        var submitter = event.submitter;
        var cancel = event.preventDefault;
        var cancelled = false;
        event.preventDefault = function () {
          cancelled = true;
          cancel.call(event);
        };
        cancel.call(event);
        setTimeout(function () {
          if (!cancelled) {
            send(form, submitter);
          }
        }, 0);
      },
      true
    );
    HTMLFormElement.prototype.submit = function () {
      send(this, null);
    };

    window.addEventListener("message", function (event) {
      if (event.source === window.parent && event.data === "crowdsite:retry") {
        sent = false;
        setSubmitting(false);
      }
    });

    function reportHeight() {
      post({ crowdsite: "height", height: document.documentElement.scrollHeight });
    }

    document.addEventListener("DOMContentLoaded", function () {
      // Mephisto's templates are fields without a form: the page supplies the
      // form and its Submit button.
      if (mode !== "preview" && document.forms.length === 0) {
        var form = document.createElement("form");
        while (document.body.firstChild) {
          form.appendChild(document.body.firstChild);
        }
        var button = document.createElement("button");
        button.type = "submit";
        button.id = "html-task-submit-button";
        button.textContent = "Submit";
        form.appendChild(button);
        document.body.appendChild(form);
      }
      reportHeight();
      if (window.ResizeObserver) {
        new ResizeObserver(reportHeight).observe(document.documentElement);
      }
    });
    window.addEventListener("load", reportHeight);
  }

  function withFrameScript(html, mode) {
    var script =
      "<script>(" +
      frameScript.toString() +
      ")(" +
      JSON.stringify(mode) +
      ", " +
      JSON.stringify(window.location.origin) +
      ");</" +
      "script>";
    // Early in <head>, without pushing a doctype off the first line.
    var head = html.match(/<head(\s[^>]*)?>/i);
    if (head) {
      var at = head.index + head[0].length;
      return html.slice(0, at) + script + html.slice(at);
    }
    var doctype = html.match(/^\s*<!doctype[^>]*>/i);
    if (doctype) {
      return doctype[0] + script + html.slice(doctype[0].length);
    }
    return script + html;
  }

  /* ---------------- what the page shows ---------------- */

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function statusLine() {
    var line = document.getElementById("crowdsite-status");
    if (!line) {
      line = element("p", { id: "crowdsite-status", role: "status" });
      app.appendChild(line);
    }
    return line;
  }

  function showStatus(text) {
    statusLine().textContent = text;
  }

  function showError(error) {
    var line = statusLine();
    line.setAttribute("role", "alert");
    line.className = "crowdsite-error";
    line.textContent = "Something went wrong: " + (error && error.message ? error.message : error);
  }

  function showBlocked(reason) {
    state.mode = "blocked";
    app.replaceChildren(
      element("h2", {}, "You can't work on this task"),
      element("p", { id: "blocked-reason" }, reason)
    );
  }

  function showFrame(kind, html) {
    var frame = element("iframe", {
      id: "crowdsite-frame",
      title: kind === "onboarding" ? "Onboarding" : kind === "preview" ? "Preview" : "Task",
      // No allow-same-origin: the frame's origin is opaque. A preview can't
      // submit a form at all.
      sandbox: kind === "preview" ? "allow-scripts" : "allow-scripts allow-forms",
      referrerpolicy: "no-referrer",
      "data-kind": kind,
    });
    frame.style.cssText = "display:block;width:100%;height:150px;border:0;";
    frame.srcdoc = withFrameScript(html, kind);
    state.mode = kind;
    state.frame = frame;
    state.busy = false;
    return frame;
  }

  function showPreview() {
    state.mode = "preview";
    var note = element(
      "p",
      { id: "crowdsite-preview-note" },
      "Preview: accept this task to start working on it."
    );
    if (!settings.templates.preview) {
      app.replaceChildren(
        element("h1", {}, settings.task_title || document.title),
        element("p", {}, settings.task_description || ""),
        note
      );
      return Promise.resolve();
    }
    return loadTemplate("preview").then(function (html) {
      app.replaceChildren(note, showFrame("preview", html));
    });
  }

  /* What `${mephisto_agent_id}` shows: the agent id cut to its first
   * AGENT_REFERENCE_LENGTH random characters (after "onboarding-" for an
   * onboarding agent). The whole id is the worker's key to the API, so it stays
   * out of the frame; the cut one still names the agent (the admin's agent
   * search finds it) and can't act for the worker. */
  var AGENT_REFERENCE_LENGTH = 8;
  var ONBOARDING_PREFIX = "onboarding-";

  function agentReference(agentId) {
    var prefix = agentId.indexOf(ONBOARDING_PREFIX) === 0 ? ONBOARDING_PREFIX : "";
    return agentId.slice(0, prefix.length + AGENT_REFERENCE_LENGTH);
  }

  function showTemplate(kind, data) {
    showStatus("Loading…");
    // Mephisto's template variables, then the row (a row's own column wins).
    var values = Object.assign(
      {
        provider_worker_id: getWorkerName(),
        mephisto_agent_id: agentReference(state.agentId),
      },
      data && typeof data === "object" ? data : {}
    );
    return loadTemplate(kind).then(function (html) {
      app.replaceChildren(showFrame(kind, fillTemplate(html, values)));
    });
  }

  function handleAgent(packet) {
    var details = (packet && packet.data) || {};
    if (!details.agent_id) {
      showBlocked(details.failure_reason || "There is no work for you on this task.");
      return Promise.resolve();
    }
    state.agentId = details.agent_id;
    if (details.agent_id.indexOf("onboarding") === 0) {
      if (!settings.templates.onboarding) {
        // Onboarding required but no page for it: nothing to answer.
        return submitOnboarding({});
      }
      return showTemplate("onboarding", details.init_task_data);
    }
    return showTemplate("task", details.init_task_data);
  }

  /* ---------------- submitting ---------------- */

  function submitOnboarding(fields) {
    return postJSON("/submit_onboarding", {
      provider_data: { USED_AGENT_ID: state.agentId, onboarding_data: fields },
      client_timestamp: now(),
    }).then(handleAgent);
  }

  function submitTask(fields, files) {
    var sending;
    if (files.length) {
      var form = new FormData();
      form.append("USED_AGENT_ID", state.agentId);
      form.append("final_data", JSON.stringify(fields));
      form.append("client_timestamp", String(now()));
      files.forEach(function (item) {
        form.append(item.field, item.file, item.file.name);
      });
      sending = fetch(apiURL("/submit_task"), {
        method: "POST",
        body: form,
        credentials: "omit",
      }).then(answer);
    } else {
      sending = postJSON("/submit_task", {
        USED_AGENT_ID: state.agentId,
        final_data: fields,
        client_timestamp: now(),
      });
    }
    return sending.then(function () {
      handleSubmitToProvider(fields);
    });
  }

  function plainFields(fields) {
    // Only JSON goes on: no prototypes, functions or odd objects from the frame.
    var copy = JSON.parse(JSON.stringify(fields));
    return copy && typeof copy === "object" && !Array.isArray(copy) ? copy : {};
  }

  function plainFiles(files) {
    return (Array.isArray(files) ? files : [])
      .filter(function (item) {
        return (
          item &&
          typeof item.field === "string" &&
          typeof item.name === "string" &&
          item.bytes instanceof ArrayBuffer
        );
      })
      .map(function (item) {
        var file = new File([item.bytes], item.name, {
          type: typeof item.type === "string" ? item.type : "",
          lastModified: Number(item.lastModified) || Date.now(),
        });
        return { field: item.field, file: file };
      });
  }

  window.addEventListener("message", function (event) {
    var frame = state.frame;
    // Only the frame this page made, and only while it is on the page.
    if (!frame || !frame.isConnected || event.source !== frame.contentWindow) {
      return;
    }
    var message = event.data;
    if (!message || typeof message !== "object") {
      return;
    }
    if (message.crowdsite === "height") {
      var height = Math.min(Math.max(Number(message.height) || 0, 150), 20000);
      frame.style.height = height + "px";
      return;
    }
    if (message.crowdsite !== "submit" || state.busy) {
      return;
    }
    if (state.mode !== "task" && state.mode !== "onboarding") {
      return;
    }
    state.busy = true;
    var fields = plainFields(message.fields);
    var sending =
      state.mode === "onboarding"
        ? submitOnboarding(fields)
        : submitTask(fields, plainFiles(message.files));
    sending.catch(function (error) {
      state.busy = false;
      showError(error);
      if (frame.isConnected) {
        frame.contentWindow.postMessage("crowdsite:retry", "*");
      }
    });
  });

  /* ---------------- start ---------------- */

  var start;
  if (!getWorkerName() || !getAssignmentId()) {
    start = showPreview();
  } else {
    showStatus("Loading…");
    start = postJSON("/request_agent", {
      provider_data: getAgentRegistration(),
      client_timestamp: now(),
    }).then(handleAgent);
  }
  start.catch(showError);
})();
