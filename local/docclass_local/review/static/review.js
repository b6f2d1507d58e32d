// docclass review: keyboard shortcuts only; every action is also a plain form button.
// Up/Down (or k/j) choose a row, 1-3 pick a candidate, Enter routes to it, g adds it to the
// gallery, b does both. One action per page: a held key (event.repeat) or a second click does not
// post again while the first one is on its way.
(function () {
  "use strict";
  let rows = [];
  let current = -1;
  let sent = false;

  function select(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("current", i === current); });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function pick(row, number) {
    const items = row.querySelectorAll("li.candidate");
    if (number < 1 || number > items.length) return;
    items.forEach(function (li, i) { li.classList.toggle("picked", i === number - 1); });
    row.dataset.picked = items[number - 1].dataset.label;
  }

  function press(row, action, also) {
    const label = row.dataset.picked;
    if (label === undefined || sent) return;
    const box = row.querySelector("input[name=also_gallery]");
    if (box) box.checked = also;
    for (const button of row.querySelectorAll("button[data-action]")) {
      if (button.dataset.action === action && button.dataset.label === label) {
        button.click();
        return;
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    rows = Array.from(document.querySelectorAll("form.row"));
    const wanted = new URLSearchParams(window.location.search).get("row");
    select(wanted === null || wanted === "" ? 0 : Number(wanted));
  });

  document.addEventListener("submit", function (event) {
    if (sent) {
      event.preventDefault();
      return;
    }
    sent = true;
    const form = event.target;
    form.classList.add("sent");
    // Disabled after the form's data is taken (a disabled button would not send its value).
    window.setTimeout(function () {
      document.querySelectorAll("form.row button").forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  // Back to a page kept in the browser's cache: it may act again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    sent = false;
    document.querySelectorAll("form.row button").forEach(function (button) { button.disabled = false; });
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
    const acts = event.key === "Enter" || (!typing && (event.key === "g" || event.key === "b"));
    if (acts && (event.repeat || sent)) {
      event.preventDefault();  // a held key posts once (Enter in the label field too)
      return;
    }
    if (typing) return;
    if (event.altKey || event.ctrlKey || event.metaKey || current < 0) return;
    const row = rows[current];
    if (event.key === "ArrowDown" || event.key === "j") select(current + 1);
    else if (event.key === "ArrowUp" || event.key === "k") select(current - 1);
    else if (event.key >= "1" && event.key <= "9") pick(row, Number(event.key));
    else if (event.key === "Enter") press(row, "route", false);
    else if (event.key === "g") press(row, "gallery", false);
    else if (event.key === "b") press(row, "route", true);
    else return;
    event.preventDefault();
  });
})();
