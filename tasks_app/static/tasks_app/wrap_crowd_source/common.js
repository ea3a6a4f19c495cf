/* crowdsite: what every provider's wrap_crowd_source.js shares.
 * The `mephisto-task` package calls these globals; see docs/worker-protocol.md. */
var CROWDSITE = JSON.parse(document.getElementById("crowdsite-config").textContent);
var crowdsiteParams = new URLSearchParams(window.location.search);

function crowdsiteParam(name) {
  var value = crowdsiteParams.get(name);
  return value === null || value === "" ? null : value;
}

/* Every request the task page makes names its run. */
function getProviderURLParams() {
  return { task_run_id: CROWDSITE.task_run_id };
}

function getAgentRegistration() {
  var worker = getWorkerName();
  var assignment = getAssignmentId();
  return {
    worker_name: worker,
    assignment_id: assignment,
    agent_registration_id: worker + "-" + assignment,
    provider_type: CROWDSITE.provider_type,
    // The provider's own unit (MTurk's HIT, Prolific's study), for the
    // server's identity check.
    hit_id: getProviderUnitId(),
  };
}

/* Tell the worker something the task app can't: shown above the app. */
function crowdsiteNotice(message) {
  var notice = document.getElementById("crowdsite-notice");
  if (!notice) {
    notice = document.createElement("p");
    notice.id = "crowdsite-notice";
    notice.setAttribute("role", "alert");
    document.body.insertBefore(notice, document.body.firstChild);
  }
  notice.textContent = message;
  notice.hidden = false;
}
