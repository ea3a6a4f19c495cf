/* Sentence rating, written the way a Mephisto static React task is written:
 * useMephistoTask() drives the flow (preview, onboarding, task, blocked) and
 * handleSubmit sends the answers. Only the import differs from a Mephisto app:
 * "crowdsite-task" instead of "mephisto-task". */
import { ErrorBoundary, useMephistoTask } from "crowdsite-task";
import { BlockedScreen, LoadingScreen, OnboardingScreen, PreviewScreen, TaskScreen } from "./components.jsx";

export function MainApp() {
  const {
    blockedReason,
    blockedExplanation,
    isPreview,
    isLoading,
    isOnboarding,
    initialTaskData,
    taskConfig,
    handleSubmit,
    handleFatalError,
  } = useMephistoTask();

  if (blockedReason !== null) {
    return <BlockedScreen reason={blockedReason} explanation={blockedExplanation} />;
  }
  if (isPreview) {
    return <PreviewScreen taskConfig={taskConfig} />;
  }
  if (isLoading) {
    return <LoadingScreen />;
  }

  return (
    <ErrorBoundary handleError={handleFatalError}>
      {isOnboarding ? (
        <OnboardingScreen onSubmit={handleSubmit} />
      ) : (
        <TaskScreen taskData={initialTaskData} onSubmit={handleSubmit} />
      )}
    </ErrorBoundary>
  );
}
