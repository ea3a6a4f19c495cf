/* MTurk (live and sandbox): ?workerId=&assignmentId=&hitId=&turkSubmitTo=
 * assignmentId ASSIGNMENT_ID_NOT_AVAILABLE means the worker is previewing. */
function getWorkerName() {
  return crowdsiteParam("workerId");
}

function getAssignmentId() {
  var assignment = crowdsiteParam("assignmentId");
  return assignment === "ASSIGNMENT_ID_NOT_AVAILABLE" ? null : assignment;
}

function handleSubmitToProvider(taskData) {
  // MTurk learns of the submission from a form posted to its externalSubmit.
  var base = crowdsiteParam("turkSubmitTo") || CROWDSITE.mturk_submit_to;
  var form = document.createElement("form");
  form.method = "POST";
  form.action = base.replace(/\/$/, "") + "/mturk/externalSubmit";
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
