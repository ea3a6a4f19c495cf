/* crowdsite-task: what a Mephisto task app imports from `mephisto-task`
 * (the static-task part), speaking crowdsite's worker protocol with fetch. */

export { useMephistoTask } from "./useMephistoTask.js";
export { ErrorBoundary } from "./ErrorBoundary.js";
export {
  CrowdsiteRequestError,
  buildURL,
  configureRequests,
  describeRequestFailure,
  doesSupportWebsockets,
  getBlockedExplanation,
  getTaskConfig,
  isMobile,
  libVersion,
  postCompleteOnboarding,
  postCompleteTask,
  postData,
  postErrorLog,
  postMetadata,
  postProviderRequest,
  pythonTime,
  requestAgent,
} from "./utils.js";
export { packageVersion } from "./version.js";
