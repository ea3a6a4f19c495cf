/* A form app in the style of Mephisto's FormComposer, written against the
 * UNMODIFIED mephisto-task package from npm: the form is described by the
 * unit's data (`form.fields`), the app routes with react-router on "/", shows
 * a picture of the run's extra_source_dir by a relative URL, and submits a
 * FormData as FormComposer builds it: `final_data` (an object, which the
 * browser sends as "[object Object]"), `final_string_data`
 * (JSON.stringify of the answers) and the files of its file inputs.
 *
 * mephisto-task 2.0.4's handleSubmit JSON-encodes what it is given (a FormData
 * becomes `{}`), so the FormData goes through the package's own `postData`,
 * with USED_AGENT_ID, as Mephisto's static HTML app does, and then to the
 * provider with handleSubmitToProvider.
 *
 * Element ids used by tests/e2e/test_porting_form_composer_style_app.py:
 * preview, preview-picture, blocked, loading, route, form-title, field-<name>,
 * submit, submitted. */
import React, { useState } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Routes, Route, useLocation } from "react-router-dom";
import { useMephistoTask, postData, ErrorBoundary } from "mephisto-task";

/* global handleSubmitToProvider */

function Field({ field, value, onChange }) {
  const id = `field-${field.name}`;
  let input;
  if (field.type === "select") {
    input = (
      <select
        id={id}
        name={field.name}
        value={value}
        onChange={(event) => onChange(event.target.value)}
      >
        <option value="">(select one)</option>
        {field.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    );
  } else if (field.type === "file") {
    // Files are read from the input when the form is sent, as FormComposer does.
    input = <input id={id} name={field.name} type="file" />;
  } else {
    input = (
      <input
        id={id}
        name={field.name}
        type="text"
        value={value}
        onChange={(event) => onChange(event.target.value)}
      />
    );
  }
  return (
    <p>
      <label htmlFor={id}>{field.label}</label> {input}
    </p>
  );
}

function prepareFormData(form, answers) {
  const formData = new FormData();
  formData.append("final_data", answers);
  formData.append("final_string_data", JSON.stringify(answers));
  form.querySelectorAll("input[type='file']").forEach((input) => {
    Array.from(input.files).forEach((file) => {
      formData.append(input.name, file, file.name);
    });
  });
  return formData;
}

function FormTask({ agentId, form }) {
  const textFields = form.fields.filter((field) => field.type !== "file");
  const [answers, setAnswers] = useState(() =>
    Object.fromEntries(textFields.map((field) => [field.name, ""]))
  );
  const [submitted, setSubmitted] = useState(false);
  if (submitted) {
    return <p id="submitted">Submitted, thank you.</p>;
  }
  function onSubmit(event) {
    event.preventDefault();
    const formData = prepareFormData(event.target, answers);
    formData.append("USED_AGENT_ID", agentId);
    setSubmitted(true);
    postData("/submit_task", formData).then(() => handleSubmitToProvider(answers));
  }
  return (
    <form onSubmit={onSubmit}>
      <h2 id="form-title">{form.title}</h2>
      <p>{form.instruction}</p>
      {form.fields.map((field) => (
        <Field
          key={field.name}
          field={field}
          value={answers[field.name]}
          onChange={(value) => setAnswers({ ...answers, [field.name]: value })}
        />
      ))}
      <button id="submit" type="submit">
        Submit
      </button>
    </form>
  );
}

function TaskPage() {
  const {
    blockedReason,
    blockedExplanation,
    isPreview,
    isLoading,
    initialTaskData,
    handleFatalError,
    taskConfig,
    agentId,
  } = useMephistoTask();
  const location = useLocation();

  let content;
  if (blockedReason !== null) {
    content = <p id="blocked">{blockedExplanation}</p>;
  } else if (isPreview) {
    content = (
      <section id="preview">
        <h2>{taskConfig ? taskConfig.task_title : "Preview"}</h2>
        <p>This is a preview. Accept the task to begin.</p>
      </section>
    );
  } else if (isLoading || !agentId || !initialTaskData) {
    content = <p id="loading">Loading…</p>;
  } else {
    content = (
      <ErrorBoundary handleError={handleFatalError}>
        <FormTask agentId={agentId} form={initialTaskData.form} />
      </ErrorBoundary>
    );
  }
  return (
    <main>
      <p>
        An example: <img id="preview-picture" src="preview.png" alt="An example" />
      </p>
      {content}
      <p id="route" hidden>
        {location.pathname}
      </p>
    </main>
  );
}

createRoot(document.getElementById("app")).render(
  <BrowserRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
    <Routes>
      <Route path="/" element={<TaskPage />} />
    </Routes>
  </BrowserRouter>
);
