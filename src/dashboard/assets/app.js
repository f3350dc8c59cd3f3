// The dashboard works without this script. It asks before a destructive action (forms with `data-confirm`), and
// a message's page says when to look again (`data-refresh-in`, in ms): every second while an attempt is in
// flight, once when the next retry is due, or never.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
const refresh = document.querySelector("[data-refresh-in]");
if (refresh) {
  setTimeout(() => location.reload(), Number(refresh.dataset.refreshIn));
}
