// The dashboard works without this script. It asks before a destructive action (forms with `data-confirm`),
// shows a Copy button beside a secret shown once (`data-copy` names its field; hidden without this script), and
// a message's page says when to look again (`data-refresh-in`, in ms): every second while an attempt is in
// flight, once when the next retry is due, or never. A long list of choices gets a filter box (`data-filter`).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
for (const button of document.querySelectorAll("button[data-copy]")) button.hidden = false;
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const copied = () => { button.textContent = "Copied"; };
  const selected = () => { button.textContent = "Selected: press Ctrl+C"; };
  field.select();
  // The clipboard API needs a secure context (HTTPS or localhost); elsewhere the selection is copied.
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(copied, () => (document.execCommand("copy") ? copied() : selected()));
  } else if (document.execCommand("copy")) copied();
  else selected();
});
const refresh = document.querySelector("[data-refresh-in]");
if (refresh) {
  setTimeout(() => location.reload(), Number(refresh.dataset.refreshIn));
}
// Each word typed must be in an item's `data-filter-text`; the item chosen stays in view.
for (const box of document.querySelectorAll("input[data-filter]")) {
  box.hidden = false;
  const items = [...document.querySelectorAll(box.dataset.filter)];
  const empty = box.parentElement.querySelector("[data-filter-empty]");
  // A form shown again (refused, or to edit) scrolls its list to the one chosen.
  const chosen = items.find((item) => item.querySelector("input:checked"));
  if (chosen) chosen.parentElement.scrollTop = chosen.offsetTop - chosen.parentElement.offsetTop;
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault(); // not a submit of the form around it
  });
  box.addEventListener("input", () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    let matched = 0;
    for (const item of items) {
      const hit = words.every((w) => item.dataset.filterText.toLowerCase().includes(w));
      matched += hit;
      item.hidden = !hit && !item.querySelector("input:checked");
    }
    if (empty) empty.hidden = matched > 0;
  });
}
