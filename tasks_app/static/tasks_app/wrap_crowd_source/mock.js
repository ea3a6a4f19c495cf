/* Mock provider: workers arrive as ?worker_id=...&assignment_id=... */
function getWorkerName() {
  return crowdsiteParam("worker_id");
}

function getAssignmentId() {
  return crowdsiteParam("assignment_id");
}

function getProviderUnitId() {
  return null;
}

function handleSubmitToProvider(taskData) {
  // Nothing to tell a mock provider: thank the worker on the page.
  var app = document.getElementById("app");
  var done = document.createElement("h2");
  done.id = "crowdsite-thanks";
  done.textContent = "Thank you! Your work was submitted.";
  app.replaceChildren(done);
  return true;
}
