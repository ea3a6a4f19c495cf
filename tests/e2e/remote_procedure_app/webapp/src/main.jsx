/* Mephisto's remote_procedure template app, written as a Mephisto user writes
 * it, against the UNMODIFIED mephisto-task package from npm. crowdsite runs it
 * unchanged: the contract check of
 * tests/e2e/test_porting_remote_procedure_task.py.
 * Element ids and classes used by the tests: preview, blocked, loading,
 * onboarding, disconnect, task-index, response, submitted, and the template's
 * data-cy query-backend-button and submit-button. */
import React from "react";
import { createRoot } from "react-dom/client";
import {
  ErrorBoundary,
  MephistoContext,
  useMephistoRemoteProcedureTask,
} from "mephisto-task";
import { BaseFrontend, LoadingScreen } from "./components/core_components.jsx";

function RemoteProcedureApp() {
  const mephistoProps = useMephistoRemoteProcedureTask({});
  const {
    blockedReason,
    blockedExplanation,
    taskConfig,
    isPreview,
    initialTaskData,
    isLoading,
    handleSubmit,
    remoteProcedure,
    isOnboarding,
    handleFatalError,
    disconnectIssueText,
  } = mephistoProps;

  const handleRemoteCall = remoteProcedure("handle_with_model");

  if (isOnboarding) {
    // As in the template, the task has no onboarding.
    return <h1 id="onboarding">This task has no onboarding.</h1>;
  }
  if (blockedReason !== null) {
    return <h1 id="blocked">{blockedExplanation}</h1>;
  }
  if (isLoading) {
    return <LoadingScreen />;
  }
  if (isPreview) {
    return (
      <section id="preview">
        <h2>{taskConfig.task_title}</h2>
        <p>{taskConfig.task_description}</p>
      </section>
    );
  }

  return (
    <ErrorBoundary handleError={handleFatalError}>
      <MephistoContext.Provider value={mephistoProps}>
        {disconnectIssueText && <p id="disconnect">{disconnectIssueText}</p>}
        <BaseFrontend
          taskData={initialTaskData}
          handleRemoteCall={handleRemoteCall}
          handleSubmit={handleSubmit}
        />
      </MephistoContext.Provider>
    </ErrorBoundary>
  );
}

createRoot(document.getElementById("app")).render(<RemoteProcedureApp />);
