// GitHub signer: the signature comes from `sign()` of @octokit/webhooks-methods, GitHub's official
// webhook library (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>).
// Contract: tests/inbound/README.md. Runs from any cwd: the package is loaded from tests/node/node_modules
// (the package is ESM-only and exports no CommonJS entry, hence the path to its Node build).
import { readFileSync } from "node:fs";

const { sign } = await import(
  new URL("../../node/node_modules/@octokit/webhooks-methods/dist-node/index.js", import.meta.url)
);

const req = JSON.parse(readFileSync(0, "utf8"));
const headers = {
  "X-Hub-Signature-256": await sign(req.secret, req.body),
  ...(req.extra?.headers ?? {}),
};
process.stdout.write(JSON.stringify({ headers, body: req.body, url: req.url }) + "\n");
