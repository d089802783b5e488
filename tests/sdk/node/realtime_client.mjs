// A stock openai-node realtime client (OpenAIRealtimeWebSocket), run against a relay.
//
// Usage: SDK_RELAY_TOKEN=<relay token> node realtime_client.mjs openai|azure <https base URL>
//   openai: OpenAI client with baseURL <base>/openai/v1; the token travels as the
//           subprotocol `openai-insecure-api-key.<token>` (what browsers do).
//   azure:  AzureOpenAI client with endpoint <base>; the token travels as `api-key`.
// The SDK only dials wss:// URLs, so the relay must be reached over TLS.
// Sends one user text item and response.create, reads until response.done, and prints
// a JSON summary of what it received.

import { AzureOpenAI, OpenAI } from "openai";
import { OpenAIRealtimeWebSocket } from "openai/realtime/websocket";
import { readFileSync } from "node:fs";

const [mode, base] = process.argv.slice(2);
const apiKey = process.env.SDK_RELAY_TOKEN;
const sdk = JSON.parse(readFileSync(new URL("node_modules/openai/package.json", import.meta.url))).version;

const rt =
  mode === "azure"
    ? await OpenAIRealtimeWebSocket.azure(
        new AzureOpenAI({ apiKey, endpoint: base, apiVersion: "v1", deployment: "gpt-realtime" }),
      )
    : new OpenAIRealtimeWebSocket({ model: "gpt-realtime" }, new OpenAI({ apiKey, baseURL: `${base}/openai/v1` }));

const summary = { sdk, url: String(rt.url), types: [], text: "", audioBytes: 0, status: null };
const finish = (code) => {
  process.stdout.write(JSON.stringify(summary) + "\n");
  process.exit(code);
};
setTimeout(() => finish(2), 10_000);

rt.on("error", (err) => {
  summary.error = String(err?.message ?? err);
  finish(1);
});
rt.on("event", (event) => {
  summary.types.push(event.type);
  if (/(transcript|text)\.delta$/.test(event.type)) summary.text += event.delta;
  else if (/audio\.delta$/.test(event.type)) summary.audioBytes += Buffer.from(event.delta, "base64").length;
  else if (event.type === "response.done") {
    summary.status = event.response.status;
    rt.close();
    finish(0);
  }
});
rt.socket.addEventListener("open", () => {
  rt.send({
    type: "conversation.item.create",
    item: { type: "message", role: "user", content: [{ type: "input_text", text: "hello node" }] },
  });
  rt.send({ type: "response.create" });
});
rt.socket.addEventListener("close", (event) => {
  summary.closeCode = event.code;
  finish(3);
});
