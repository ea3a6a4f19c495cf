/* Entry of build/bundle.js: render the app into <div id="app">. */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { MainApp } from "./app.jsx";

function mount() {
  const container = document.getElementById("app");
  if (!container) {
    throw new Error('static_react_task: the page has no <div id="app">');
  }
  createRoot(container).render(
    <StrictMode>
      <MainApp />
    </StrictMode>
  );
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mount);
} else {
  mount();
}
