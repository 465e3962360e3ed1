// The sidebar buttons of the book's own header work again (phones, tablets, desktops).
//
// sphinx-book-theme 1.3.0 requires pydata-sphinx-theme==0.17.1 exactly, and 0.17
// added a second, hidden pair of buttons with the same classes (.primary-toggle,
// .secondary-toggle) in its navbar, ahead of the book theme's. Both themes wire
// only the first match of document.querySelector, so the buttons readers see do
// nothing: the menu never opens at phone and tablet widths, and the sidebar never
// collapses on a desktop (pydata-sphinx-theme issue #2451). Here a click on any
// later button of the same class is handed to the first one, which both themes
// did wire (the book theme collapses the sidebar on wide screens, pydata opens
// its <dialog> on narrow ones). Served from _assets/ (html_js_files), never from
// a _static/ folder.
(function () {
  "use strict";

  function forwardClicks(selector) {
    const buttons = Array.from(document.querySelectorAll(selector));
    const wired = buttons[0];
    buttons.slice(1).forEach((button) => {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopImmediatePropagation();
        wired.click();
        button.blur(); // drop the tooltip the click left, as the book theme does for its own
      });
    });
  }

  function setUp() {
    forwardClicks(".primary-toggle");
    forwardClicks(".secondary-toggle");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
