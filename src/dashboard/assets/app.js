// The dashboard works without this script. A message's page says when to look again (`data-refresh-in`, in ms):
// every second while an attempt is in flight, once when the next retry is due, or never.
"use strict";
const refresh = document.querySelector("[data-refresh-in]");
if (refresh) {
  setTimeout(() => location.reload(), Number(refresh.dataset.refreshIn));
}
