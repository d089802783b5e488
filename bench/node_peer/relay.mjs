// `node bench/node_peer/relay.mjs --port P --upstream ws://...`: the benchmark's Node peer.
//
// A minimal relay on `ws`, written by us in the design of the Node middle tiers the
// performance issue measured: for each client it opens the upstream WebSocket and
// forwards every message both ways as it came, text as text and binary as binary,
// parsing nothing. No policy, no redaction, no limits. Frames a client sends before
// the upstream is open wait in order. Either side's end ends the other.
import { WebSocket, WebSocketServer } from "ws";

const MAX_MESSAGE = 32 * 1024 * 1024;

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  if (fallback === undefined) {
    console.error(`usage: node relay.mjs --port P --upstream ws://host:port/path [--host H]`);
    process.exit(2);
  }
  return fallback;
}

const host = option("host", "127.0.0.1");
const port = Number(option("port"));
const upstreamUrl = option("upstream");

const server = new WebSocketServer({
  host,
  port,
  path: "/realtime",
  perMessageDeflate: false,
  maxPayload: MAX_MESSAGE,
});

server.on("connection", (client) => {
  const upstream = new WebSocket(upstreamUrl, { perMessageDeflate: false, maxPayload: 0 });
  let waiting = [];
  client.on("message", (data, isBinary) => {
    if (waiting === null) upstream.send(data, { binary: isBinary });
    else waiting.push([data, isBinary]);
  });
  upstream.on("open", () => {
    for (const [data, isBinary] of waiting) upstream.send(data, { binary: isBinary });
    waiting = null;
  });
  upstream.on("message", (data, isBinary) => client.send(data, { binary: isBinary }));
  client.on("close", () => upstream.terminate());
  upstream.on("close", () => client.close());
  client.on("error", () => upstream.terminate());
  upstream.on("error", () => client.terminate());
});

server.on("listening", () => console.log(`LISTENING ${port}`));

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
