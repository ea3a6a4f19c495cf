/* Prolific: ?participant_id=&study_id=&submission_id= */
function getWorkerName() {
  return crowdsiteParam("participant_id");
}

function getAssignmentId() {
  return crowdsiteParam("submission_id");
}

var PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc=";

function getProviderUnitId() {
  return crowdsiteParam("study_id");
}

function handleSubmitToProvider(taskData) {
  // Prolific records completion when the participant arrives with the code. The
  // page never holds it: it is handed out once the submission is stored here.
  fetch("/completion_code?task_run_id=" + encodeURIComponent(CROWDSITE.task_run_id), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ worker_name: getWorkerName(), assignment_id: getAssignmentId() }),
  })
    .then(function (response) {
      return response.json().then(function (body) {
        return { ok: response.ok, body: body };
      });
    })
    .then(function (answer) {
      if (answer.ok && answer.body.completion_code) {
        window.location.href =
          PROLIFIC_COMPLETE + encodeURIComponent(answer.body.completion_code);
        return;
      }
      crowdsiteNotice(
        "Your completion code could not be given: " +
          (answer.body.error || "the server refused") +
          ". Please reload this page, or message the researcher on Prolific."
      );
    })
    .catch(function () {
      crowdsiteNotice(
        "Your completion code could not be fetched (the connection failed). Please " +
          "reload this page, or message the researcher on Prolific."
      );
    });
  return true;
}
