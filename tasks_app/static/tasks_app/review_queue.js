/* The review queue's keyboard: move between submissions and decide on the
   current one. Every key presses one of the page's own buttons, so the page
   works the same without this script. */
(function () {
  "use strict";

  var items = [];
  var current = -1;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function select(index, scroll) {
    if (!items.length) { return; }
    index = Math.max(0, Math.min(items.length - 1, index));
    if (current >= 0) { items[current].classList.remove("review-current"); }
    current = index;
    items[current].classList.add("review-current");
    if (scroll) { items[current].scrollIntoView({ block: "start" }); }
  }

  function item() { return current >= 0 ? items[current] : null; }

  // Where to land after the decision: the submission after this one (the
  // decided one leaves a queue of pending units), else the one before.
  function setFocusTarget(section) {
    var index = items.indexOf(section);
    var next = items[index + 1] || items[index - 1];
    section.querySelectorAll(".review-focus").forEach(function (input) {
      input.value = next ? next.dataset.agent : "";
    });
  }

  function press(selector) {
    var section = item();
    var button = section && section.querySelector(selector);
    if (button) { setFocusTarget(section); button.click(); }
  }

  function open(boxSelector, fieldSelector) {
    var section = item();
    var box = section && section.querySelector(boxSelector);
    if (!box) { return; }
    box.open = true;
    var field = box.querySelector(fieldSelector);
    if (field) { field.focus(); }
  }

  function closeBoxes() {
    document.querySelectorAll(".review-box[open]").forEach(function (box) { box.open = false; });
    if (document.activeElement) { document.activeElement.blur(); }
  }

  function countSelected() {
    var count = document.querySelectorAll(".review-select:checked").length;
    var label = document.getElementById("review-selected-count");
    if (label) { label.textContent = String(count); }
  }

  function onKey(event) {
    if (event.key === "Escape") { closeBoxes(); return; }
    if (typing(event.target)) {
      // Ctrl/Cmd+Enter sends the box being typed in (feedback, bonus).
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        var box = event.target.closest(".review-box");
        // A box's own send button: the one marked, else its only one.
        var send = box && (box.querySelector("[data-send]") || box.querySelector("button[type=submit]"));
        var section = event.target.closest(".review-item");
        if (send) {
          event.preventDefault();
          if (section) { setFocusTarget(section); }
          send.click();
        }
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    switch (event.key) {
      case "j": case "n": select(current + 1, true); break;
      case "k": case "p": select(current - 1, true); break;
      case "a": press(".review-approve"); break;
      case "s": press(".review-soft-reject"); break;
      case "r": open(".review-reject", "textarea"); break;
      case "b": open(".review-bonus", "input[name=amount]"); break;
      case "x":
        var box = item() && item().querySelector(".review-select");
        if (box) { box.checked = !box.checked; countSelected(); }
        break;
      default: return;
    }
    event.preventDefault();
  }

  // Mephisto's review-bundle protocol: the bundle gets {REVIEW_DATA: {inputs,
  // outputs}} once loaded, and may answer {IFRAME_DATA: {height}}.
  function sendReviewData(frame) {
    var data = document.getElementById(frame.dataset.review);
    if (!data || !frame.contentWindow) { return; }
    var message = { REVIEW_DATA: JSON.parse(data.textContent) };
    // The frame's origin is opaque (sandboxed), so only "*" reaches it.
    frame.contentWindow.postMessage(JSON.stringify(message), "*");
  }

  function connectFrames() {
    document.querySelectorAll("iframe.review-frame").forEach(function (frame) {
      frame.addEventListener("load", function () { sendReviewData(frame); });
      // A frame may have loaded before this script ran (its load event is
      // gone): send now too. If it is still loading, this reaches the blank
      // document it replaces and the load event sends again.
      sendReviewData(frame);
    });
    window.addEventListener("message", function (event) {
      var frame = Array.prototype.find.call(
        document.querySelectorAll("iframe.review-frame"),
        function (f) { return f.contentWindow === event.source; }
      );
      if (!frame || typeof event.data !== "string") { return; }
      try {
        var height = JSON.parse(event.data).IFRAME_DATA.height;
        if (typeof height === "number" && height > 0) { frame.style.height = Math.min(height, 5000) + "px"; }
      } catch (e) { /* not a height message */ }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    items = Array.prototype.slice.call(document.querySelectorAll(".review-item"));
    items.forEach(function (section, index) {
      section.addEventListener("click", function () { select(index, false); });
      section.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.addEventListener("click", function () { setFocusTarget(section); });
      });
    });
    document.querySelectorAll(".review-select").forEach(function (box) {
      box.addEventListener("change", countSelected);
    });
    var start = 0;
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target && items.indexOf(target) >= 0) { start = items.indexOf(target); }
    }
    select(start, start > 0);
    countSelected();
    connectFrames();
    document.addEventListener("keydown", onKey);
  });
})();
