// The operator's navigation menus (<details class="menu">): one open at a time, closed by a
// click or a Tab elsewhere, or by Escape (focus back on its title).
(function () {
  "use strict";
  function menus() { return document.querySelectorAll("details.menu"); }
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!(opened instanceof HTMLDetailsElement) || !opened.classList.contains("menu") || !opened.open) return;
    menus().forEach(function (m) { if (m !== opened) m.open = false; });
  }, true);
  document.addEventListener("click", function (event) {
    var inside = event.target instanceof Element ? event.target.closest("details.menu") : null;
    menus().forEach(function (m) { if (m !== inside) m.open = false; });
  });
  // Tabbing out of a menu closes it (the next menu's title, or the page, has the focus).
  document.addEventListener("focusin", function (event) {
    var inside = event.target instanceof Element ? event.target.closest("details.menu") : null;
    menus().forEach(function (m) { if (m !== inside) m.open = false; });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus().forEach(function (m) {
      if (m.open) { m.open = false; m.querySelector("summary").focus(); }
    });
  });
})();
