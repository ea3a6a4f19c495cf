/* Prolific: ?participant_id=&study_id=&submission_id= */
function getWorkerName() {
  return crowdsiteParam("participant_id");
}

function getAssignmentId() {
  return crowdsiteParam("submission_id");
}

function handleSubmitToProvider(taskData) {
  // Prolific records completion when the participant arrives with the code.
  window.location.href =
    "https://app.prolific.com/submissions/complete?cc=" + CROWDSITE.completion_code;
  return true;
}
