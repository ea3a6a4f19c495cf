/* A tiny task app written exactly as a Mephisto user writes one, against the
 * UNMODIFIED mephisto-task package from npm. crowdsite runs it unchanged: this
 * is the contract check of tests/e2e/test_unmodified_mephisto_task.py.
 * Element ids used by the tests: preview, blocked, loading, onboarding-answer,
 * onboarding-submit, task-text, answer, submit, submitted. */
import React, { useState } from "react";
import { createRoot } from "react-dom/client";
import { useMephistoTask, ErrorBoundary } from "mephisto-task";

function TaskForm({ initialTaskData, handleSubmit }) {
  const [answer, setAnswer] = useState("");
  const [submitted, setSubmitted] = useState(false);
  if (submitted) {
    return <p id="submitted">Submitted, thank you.</p>;
  }
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        setSubmitted(true);
        handleSubmit({ answer });
      }}
    >
      <p id="task-text">{initialTaskData && initialTaskData.text}</p>
      <input
        id="answer"
        type="text"
        value={answer}
        onChange={(event) => setAnswer(event.target.value)}
      />
      <button id="submit" type="submit">
        Submit
      </button>
    </form>
  );
}

function Onboarding({ handleSubmit }) {
  const [answer, setAnswer] = useState("");
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        handleSubmit({ answer });
      }}
    >
      <p>Before the task: type anything to show you are ready.</p>
      <input
        id="onboarding-answer"
        type="text"
        value={answer}
        onChange={(event) => setAnswer(event.target.value)}
      />
      <button id="onboarding-submit" type="submit">
        Start
      </button>
    </form>
  );
}

function MainApp() {
  const {
    blockedReason,
    blockedExplanation,
    isPreview,
    isLoading,
    initialTaskData,
    handleSubmit,
    handleFatalError,
    taskConfig,
    agentId,
    isOnboarding,
  } = useMephistoTask();

  if (blockedReason !== null) {
    return (
      <section>
        <h2>You can't work on this task</h2>
        <p id="blocked">{blockedExplanation}</p>
      </section>
    );
  }
  if (isPreview) {
    return (
      <section id="preview">
        <h2>{taskConfig ? taskConfig.task_title : "Preview"}</h2>
        <p>This is a preview. Accept the task to begin.</p>
      </section>
    );
  }
  if (isLoading || !agentId) {
    return <p id="loading">Loading…</p>;
  }
  if (isOnboarding) {
    return <Onboarding handleSubmit={handleSubmit} />;
  }
  return (
    <ErrorBoundary handleError={handleFatalError}>
      <TaskForm initialTaskData={initialTaskData} handleSubmit={handleSubmit} />
    </ErrorBoundary>
  );
}

createRoot(document.getElementById("app")).render(<MainApp />);
