/* MTurk (live and sandbox): ?workerId=&assignmentId=&hitId=&turkSubmitTo=
 * assignmentId ASSIGNMENT_ID_NOT_AVAILABLE means the worker is previewing. */
function getWorkerName() {
  return crowdsiteParam("workerId");
}

function getAssignmentId() {
  var assignment = crowdsiteParam("assignmentId");
  return assignment === "ASSIGNMENT_ID_NOT_AVAILABLE" ? null : assignment;
}

function getProviderUnitId() {
  return crowdsiteParam("hitId");
}

function handleSubmitToProvider(taskData) {
  // MTurk learns of the submission from a form posted to its externalSubmit.
  var base = crowdsiteParam("turkSubmitTo") || CROWDSITE.mturk_submit_to;
  var origin = mturkSubmitOrigin(base);
  if (origin === null) {
    // The work is already stored on our server; only the hand-off is refused.
    crowdsiteNotice(
      "This task's link is broken (turkSubmitTo is not an MTurk address), so your " +
        "work can't be sent to MTurk. Please contact the requester."
    );
    return false;
  }
  var form = document.createElement("form");
  form.method = "POST";
  form.action = origin + "/mturk/externalSubmit";
  var fields = { assignmentId: getAssignmentId(), crowdsite_run: CROWDSITE.task_run_id };
  Object.keys(fields).forEach(function (name) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = fields[name];
    form.appendChild(input);
  });
  document.body.appendChild(form);
  form.submit();
  return true;
}

/* The MTurk origin to post to, or null. turkSubmitTo is part of a URL anyone can
 * write: a javascript: or foreign action would run script in this origin or send
 * the worker's answers elsewhere, so only this run's MTurk hosts pass. */
function mturkSubmitOrigin(value) {
  var url;
  try {
    url = new URL(value);
  } catch (error) {
    return null;
  }
  if (url.protocol !== "https:" || url.username !== "" || url.password !== "") {
    return null;
  }
  var origin = url.protocol + "//" + url.host;
  return (CROWDSITE.mturk_submit_hosts || []).indexOf(origin) === -1 ? null : origin;
}
