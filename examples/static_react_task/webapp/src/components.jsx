/* The screens of the sentence-rating task. Element ids are used by tests. */
import { useState } from "react";

const ONBOARDING_SENTENCE = "The cat sat on the mat.";

export function PreviewScreen({ taskConfig }) {
  return (
    <section>
      <h2>{(taskConfig && taskConfig.task_title) || "Rate a sentence"}</h2>
      <p>
        {(taskConfig && taskConfig.task_description) ||
          "You'll be shown a sentence. Say whether it reads well."}
      </p>
      <p>
        <em>This is a preview. Accept the task to begin.</em>
      </p>
    </section>
  );
}

export function LoadingScreen() {
  return <p aria-busy="true">Loading…</p>;
}

const BLOCKED_TITLES = {
  network_error: "The task server could not be reached",
  server_error: "Something went wrong",
  no_mobile: "Please use a computer",
};

export function BlockedScreen({ reason, explanation }) {
  return (
    <section>
      <h2>{BLOCKED_TITLES[reason] || "No work for you right now"}</h2>
      <p id="blocked-reason" data-reason={reason}>
        {explanation}
      </p>
    </section>
  );
}

/* Two buttons that send one answer; both are disabled once one is clicked. */
function Choice({ idPrefix, onChoose }) {
  const [sent, setSent] = useState(false);
  const choose = (value) => () => {
    setSent(true);
    onChoose(value);
  };
  return (
    <p>
      <button id={`${idPrefix}-good`} type="button" disabled={sent} onClick={choose("good")}>
        Good
      </button>
      <button id={`${idPrefix}-bad`} type="button" disabled={sent} onClick={choose("bad")}>
        Bad
      </button>
    </p>
  );
}

export function OnboardingScreen({ onSubmit }) {
  return (
    <section>
      <h2>Onboarding</h2>
      <p>Before you start, one practice question. Is this a good sentence?</p>
      <blockquote>“{ONBOARDING_SENTENCE}”</blockquote>
      <Choice idPrefix="onboarding" onChoose={(answer) => onSubmit({ answer })} />
    </section>
  );
}

export function TaskScreen({ taskData, onSubmit }) {
  const text = taskData && taskData.text != null ? String(taskData.text) : "";
  return (
    <section>
      <h2>Is this sentence good or bad?</h2>
      <blockquote id="sentence">{text}</blockquote>
      <Choice idPrefix="rate" onChoose={(rating) => onSubmit({ rating })} />
    </section>
  );
}
