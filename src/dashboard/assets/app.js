// The dashboard works without this script. It asks before a destructive action (forms with `data-confirm`),
// copies a shown secret (`data-copy` names its field), and a message's page says when to look again
// (`data-refresh-in`, in ms): every second while an attempt is in flight, once when the next retry is due, or never.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const copied = () => { button.textContent = "Copied"; };
  field.select();
  // The clipboard API needs a secure context (HTTPS or localhost); elsewhere the selection is copied.
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(copied, () => document.execCommand("copy") && copied());
  else if (document.execCommand("copy")) copied();
});
const refresh = document.querySelector("[data-refresh-in]");
if (refresh) {
  setTimeout(() => location.reload(), Number(refresh.dataset.refreshIn));
}
