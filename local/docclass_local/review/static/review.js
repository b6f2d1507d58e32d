// docclass review: keyboard shortcuts only; every action is also a plain form button.
// Up/Down (or k/j) choose a row, 1-3 pick a candidate, Enter routes to it, g adds it to the
// gallery, b does both.
(function () {
  "use strict";
  let rows = [];
  let current = -1;

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
    if (label === undefined) return;
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

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
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
