// The dashboard works without this script. It asks before a destructive action (forms with `data-confirm`), and
// refreshes a message's page while a delivery is under way, so that a resend's new attempt appears without
// pressing reload.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
if (document.querySelector("[data-pending]")) {
  setTimeout(() => location.reload(), 1000);
}
