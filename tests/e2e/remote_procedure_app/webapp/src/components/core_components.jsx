/* The task's screens, as in Mephisto's remote_procedure template: directions,
 * a "Query Backend" button that calls the server function handle_with_model,
 * and a "Submit Task" button enabled after more than three queries. Each answer
 * is listed as JSON (li.response) where the template shows an alert. */
import React, { useState } from "react";

function LoadingScreen() {
  return <p id="loading">Loading…</p>;
}

function TaskFrontend({ taskData, handleRemoteCall, handleSubmit }) {
  const [queryCount, setQueryCount] = useState(0);
  const [responses, setResponses] = useState([]);
  const [submitted, setSubmitted] = useState(false);
  if (!taskData) {
    return <LoadingScreen />;
  }
  if (submitted) {
    return <p id="submitted">Submitted, thank you.</p>;
  }
  const canSubmit = queryCount > 3;

  function queryBackend() {
    setQueryCount(queryCount + 1);
    handleRemoteCall({ arg1: "hello", arg2: "goodbye", arg3: queryCount })
      .then((response) => setResponses((shown) => [...shown, response]))
      // The promise is rejected only once the socket is lost, which
      // #disconnect already explains.
      .catch(() => {});
  }

  return (
    <div>
      <h1 data-cy="directions-header">
        A static task that can also ask the server
      </h1>
      <p>
        Task <span id="task-index">{taskData.task_data.index}</span>
      </p>
      <p data-cy="directions-paragraph">
        Query the backend a few times; then you can submit.
      </p>
      <button data-cy="query-backend-button" onClick={queryBackend}>
        Query Backend
      </button>
      <button
        data-cy="submit-button"
        disabled={!canSubmit}
        onClick={() => {
          setSubmitted(true);
          handleSubmit({ backendActionsDone: queryCount });
        }}
      >
        Submit Task
      </button>
      <ul id="responses">
        {responses.map((response, index) => (
          <li className="response" key={index}>
            {JSON.stringify(response)}
          </li>
        ))}
      </ul>
    </div>
  );
}

export { LoadingScreen, TaskFrontend as BaseFrontend };
