// Confirmation before an action that cannot be undone (revoke, reject, withdraw, publish…).
// Marked up with data attributes, not inline handlers: the pages' Content-Security-Policy runs
// scripts from this site only.
//   <form data-confirm="…">                         asks before submitting
//   <form data-confirm-field="decision" data-confirm-reject="…" data-confirm-other="…">
//                                                    asks by the value of a field
//   <button data-confirm="…">                        asks before that button acts
(function () {
  "use strict";
  function ask(message, event) {
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var message = form.getAttribute("data-confirm");
    var field = form.getAttribute("data-confirm-field");
    if (field) {
      var input = form.elements[field];
      var value = input ? input.value : "";
      message = form.getAttribute("data-confirm-" + value) || form.getAttribute("data-confirm-other") || message;
    }
    ask(message, event);
  }, true);
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-confirm]") : null;
    if (button) ask(button.getAttribute("data-confirm"), event);
  }, true);
})();
