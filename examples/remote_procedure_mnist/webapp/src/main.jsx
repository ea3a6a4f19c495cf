/* Digit drawing with a live model, as Mephisto's remote_procedure/mnist
 * example: the page calls the server's `classify_digit` (hooks.py) through
 * `useMephistoRemoteProcedureTask` of the unmodified mephisto-task package.
 * Element ids used by the tests: preview, blocked, loading, disconnect,
 * instructions, canvas, clear, classify, prediction, prediction-error,
 * is-correct, correction, keep, annotations, submit, submitted. */
import React from "react";
import { createRoot } from "react-dom/client";
import { ErrorBoundary, useMephistoRemoteProcedureTask } from "mephisto-task";
import { DigitTask, Instructions } from "./DigitTask.jsx";

function MainApp() {
  const {
    blockedReason,
    blockedExplanation,
    isPreview,
    isLoading,
    initialTaskData,
    handleSubmit,
    handleFatalError,
    agentId,
    isOnboarding,
    remoteProcedure,
    disconnectIssueText,
  } = useMephistoRemoteProcedureTask({});

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
        <Instructions isScreeningUnit={false} />
        <p>This is a preview. Accept the task to begin.</p>
      </section>
    );
  }
  if (isLoading || !agentId || !initialTaskData) {
    return <p id="loading">Loading…</p>;
  }
  if (isOnboarding) {
    return <p>This task has no onboarding.</p>;
  }
  return (
    <ErrorBoundary handleError={handleFatalError}>
      {disconnectIssueText && (
        <p id="disconnect" style={{ color: "#b00", fontWeight: "bold" }}>
          {disconnectIssueText}
        </p>
      )}
      <DigitTask
        // A remote_procedure run's task data is {task_data, previous_requests}.
        taskData={initialTaskData.task_data}
        classifyDigit={remoteProcedure("classify_digit")}
        handleSubmit={handleSubmit}
      />
    </ErrorBoundary>
  );
}

createRoot(document.getElementById("app")).render(<MainApp />);
