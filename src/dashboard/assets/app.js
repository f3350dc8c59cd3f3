// The dashboard works without this script; it only refreshes a message's page while a delivery is under way,
// so that a resend's new attempt appears without pressing reload.
"use strict";
if (document.querySelector("[data-pending]")) {
  setTimeout(() => location.reload(), 1000);
}
