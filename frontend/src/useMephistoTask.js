/* useMephistoTask(): the static-task hook of mephisto-task 2.0.4, on fetch.
 *
 * Same fields, same flow: GET /task_config.json; block phones when
 * taskConfig.block_mobile; unless previewing, POST /request_agent; an agent id
 * starting "onboarding" means onboarding, whose handleSubmit answer is the next
 * agent; agent_id null means blocked (blockedReason "null_agent_id",
 * blockedExplanation = the server's failure_reason).
 *
 * A failed request never leaves the page waiting: see README ("Errors"). */

import React from "react";
import { callGlobal } from "./globals.js";
import {
  CrowdsiteRequestError,
  describeRequestFailure,
  getBlockedExplanation,
  getTaskConfig,
  isFormData,
  isMobile,
  postCompleteOnboarding,
  postCompleteTask,
  postErrorLog,
  postMetadata,
  requestAgent,
} from "./utils.js";

const merge = (state, action) => ({ ...state, ...action });

function initialState() {
  const providerWorkerId = callGlobal("getWorkerName");
  const assignmentId = callGlobal("getAssignmentId");
  return {
    providerWorkerId,
    mephistoWorkerId: null,
    agentId: null,
    assignmentId,
    taskConfig: null,
    isPreview: providerWorkerId === null || assignmentId === null,
    previewHtml: null,
    blockedReason: null,
    blockedExplanation: null,
    initialTaskData: null,
    isOnboarding: null,
    loaded: false,
  };
}

export function useMephistoTask() {
  const [state, setState] = React.useReducer(merge, undefined, initialState);
  // Callbacks read the latest state through a ref, so they stay stable.
  const latest = React.useRef(state);
  latest.current = state;
  const started = React.useRef(false);
  const submitting = React.useRef(null);

  const handleFailure = React.useCallback((error) => {
    console.error("crowdsite-task:", error);
    setState(describeRequestFailure(error));
  }, []);

  const afterAgentRegistration = React.useCallback((packet) => {
    const data = packet && packet.data;
    if (!data || typeof data !== "object" || !("agent_id" in data)) {
      throw new CrowdsiteRequestError("the server's agent_details answer has no agent_id", {
        kind: "server",
        endpoint: "agent_details",
      });
    }
    const agentId = data.agent_id;
    const isOnboarding = agentId !== null && String(agentId).startsWith("onboarding");
    if (agentId === null) {
      setState({
        agentId,
        isOnboarding,
        mephistoWorkerId: data.worker_id ?? null,
        blockedReason: "null_agent_id",
        blockedExplanation: data.failure_reason || null,
      });
    } else {
      setState({
        agentId,
        isOnboarding,
        mephistoWorkerId: data.worker_id ?? null,
        mephistoAgentId: agentId,
        initialTaskData: data.init_task_data ?? null,
        loaded: true,
      });
    }
  }, []);

  // Submit onboarding answers or the task's final data (an object, or a
  // FormData with files). Resolves when done; never rejects: a failure sets
  // blockedReason. A second call while one is in flight joins the first.
  const handleSubmit = React.useCallback(
    (data) => {
      if (submitting.current) return submitting.current;
      const { agentId, isOnboarding } = latest.current;
      const sent = isOnboarding
        ? postCompleteOnboarding(agentId, data).then(afterAgentRegistration)
        : postCompleteTask(agentId, data);
      const done = sent.catch(handleFailure).finally(() => {
        submitting.current = null;
      });
      submitting.current = done;
      return done;
    },
    [afterAgentRegistration, handleFailure]
  );

  // Extra data for the agent; each argument with a `type` is stored under it.
  // Resolves to the server's answer; rejects when the request fails.
  const handleMetadataSubmit = React.useCallback((...args) => {
    if (args.length === 1 && isFormData(args[0])) {
      // mephisto-core's multipart form (the worker-opinion add-on): posted as it is.
      return postMetadata(latest.current.agentId, args[0]);
    }
    const metadata = {};
    for (const arg of args) {
      if (arg && Object.prototype.hasOwnProperty.call(arg, "type")) {
        metadata[arg.type] = arg;
      }
    }
    return postMetadata(latest.current.agentId, metadata);
  }, []);

  // Report an error the page caught (ErrorBoundary's handleError) to /log_error.
  const handleFatalError = React.useCallback((data) => {
    const { agentId } = latest.current;
    if (agentId === null) {
      console.error("crowdsite-task: error before an agent was assigned:", data);
      return Promise.resolve();
    }
    return postErrorLog(agentId, data).catch((error) => {
      console.error("crowdsite-task: the error log could not be sent:", error, data);
    });
  }, []);

  React.useEffect(() => {
    if (started.current) return; // StrictMode runs effects twice
    started.current = true;
    const { isPreview } = latest.current;
    getTaskConfig()
      .then((taskConfig) => {
        if (taskConfig && taskConfig.block_mobile && isMobile()) {
          setState({ taskConfig, blockedReason: "no_mobile", loaded: isPreview });
          return undefined;
        }
        setState({ taskConfig, loaded: isPreview });
        return isPreview ? undefined : requestAgent().then(afterAgentRegistration);
      })
      .catch(handleFailure);
  }, [afterAgentRegistration, handleFailure]);

  return {
    ...state,
    isLoading: !state.loaded,
    blockedExplanation:
      state.blockedExplanation ||
      (state.blockedReason && getBlockedExplanation(state.blockedReason)),
    handleSubmit,
    handleMetadataSubmit,
    handleFatalError,
  };
}

