/* ErrorBoundary: catches errors thrown while rendering its children, shows
 * them, and reports them through `props.handleError` (pass the hook's
 * handleFatalError to have them logged on the server via /log_error). */

import React from "react";

const h = React.createElement;

export class ErrorBoundary extends React.Component {
  constructor(props) {
    super(props);
    this.state = { error: null, errorInfo: null };
  }

  static getDerivedStateFromError(error) {
    return { error };
  }

  componentDidCatch(error, errorInfo) {
    this.setState({ error, errorInfo });
    if (this.props.handleError) {
      this.props.handleError({
        error: (error && error.message) || String(error),
        errorInfo: { componentStack: (errorInfo && errorInfo.componentStack) || "" },
      });
    }
  }

  render() {
    if (this.state.error) {
      return h(
        "div",
        { role: "alert" },
        h("h2", null, "Oops! Something went wrong."),
        h(
          "details",
          { style: { whiteSpace: "pre-wrap" } },
          String(this.state.error),
          h("br"),
          this.state.errorInfo ? this.state.errorInfo.componentStack : null
        )
      );
    }
    return this.props.children;
  }
}
