// Shopify signer: X-Shopify-Hmac-Sha256 = base64 HMAC-SHA256 of the body with the app's secret, made by
// `createSHA256HMAC` of @shopify/shopify-api 15 (exported from `@shopify/shopify-api/runtime`), the very
// function the library's own `shopify.webhooks.validate` checks webhooks with, usable without an app config.
// (The library's test helper `getHmac` from `@shopify/shopify-api/test-helpers` gives the same value.)
// Contract: tests/inbound/README.md. Runs from any cwd: the package is loaded from tests/node/node_modules.
import { readFileSync } from "node:fs";

const { createSHA256HMAC, HashFormat } = await import(
  new URL("../../node/node_modules/@shopify/shopify-api/dist/esm/runtime/index.mjs", import.meta.url)
);

const req = JSON.parse(readFileSync(0, "utf8"));
const headers = {
  "X-Shopify-Hmac-Sha256": await createSHA256HMAC(req.secret, req.body, HashFormat.Base64),
  ...(req.extra?.headers ?? {}),
};
process.stdout.write(JSON.stringify({ headers, body: req.body, url: req.url }) + "\n");
