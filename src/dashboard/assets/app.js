// The dashboard works without this script. It asks before a destructive action (forms with `data-confirm`),
// refreshes a message's page while a delivery is under way, so that a resend's new attempt appears without
// pressing reload, and shows a Copy button beside a secret shown once (`data-copy` names its field).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
if (document.querySelector("[data-pending]")) {
  setTimeout(() => location.reload(), 1000);
}
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}
