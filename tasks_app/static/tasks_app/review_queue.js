/* The review queue's keyboard: move between submissions and decide on the
   current one. Every key presses one of the page's own buttons, so the page
   works the same without this script. Where the page lands after an action is
   the server's choice (each form names its unit and the one after it): it
   moves on only when the unit got its decision. */
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

  function press(selector) {
    var section = item();
    var button = section && section.querySelector(selector);
    if (button) { button.click(); }
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
    var boxes = document.querySelectorAll(".review-select");
    var count = document.querySelectorAll(".review-select:checked").length;
    var label = document.getElementById("review-selected-count");
    if (label) { label.textContent = String(count); }
    var all = document.getElementById("review-select-all");
    if (all) {
      all.checked = boxes.length > 0 && count === boxes.length;
      all.indeterminate = count > 0 && count < boxes.length;
    }
  }

  // One box for every selectable submission on this page (the page's own
  // boxes only: a selection never reaches past the page shown).
  function connectSelectAll() {
    var all = document.getElementById("review-select-all");
    if (!all || !document.querySelector(".review-select")) { return; }
    all.closest("label").hidden = false;
    all.addEventListener("change", function () {
      document.querySelectorAll(".review-select").forEach(function (box) { box.checked = all.checked; });
      countSelected();
    });
  }

  function onKey(event) {
    if (event.key === "Escape") { closeBoxes(); return; }
    if (typing(event.target)) {
      // Ctrl/Cmd+Enter sends the box being typed in (feedback, bonus).
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        var box = event.target.closest(".review-box");
        // A box's own send button: the one marked, else its only one.
        var send = box && (box.querySelector("[data-send]") || box.querySelector("button[type=submit]"));
        if (send) {
          event.preventDefault();
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
    connectSelectAll();
    countSelected();
    connectFrames();
    document.addEventListener("keydown", onKey);
  });
})();
