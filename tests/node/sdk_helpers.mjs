// What the Svix SDK flows share: a loopback receiver that keeps what it is sent, and waiting with a deadline.
import http from "node:http";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A receiver on 127.0.0.1. Every request is kept in `received` as {method, path, headers, body, status};
 * `answer(req, body)` gives the status to answer (200 by default) or [status, text].
 */
export async function startReceiver(answer = () => 200) {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const given = answer(req, body);
      const [status, text] = Array.isArray(given) ? given : [given, "ok"];
      received.push({ method: req.method, path: req.url, headers: req.headers, body, status });
      res.writeHead(status).end(text);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { received, server, base: `http://127.0.0.1:${server.address().port}` };
}

/** `check()` again every 20 ms until it gives something truthy, which is returned; fails after 20 s. */
export async function eventually(what, check) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
