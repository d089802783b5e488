// openai-node's realtime.clientSecrets.create, unchanged, against a relay.
//
// Usage: SDK_BACKEND_TOKEN=<backend token> node mint_client_secret.mjs <http base URL> <agent> <user>
// Mints a secret for <agent> for the end user <user> (X-Relay-Identity), pinning text-only
// output, and prints the response as JSON.

import { OpenAI } from "openai";

const [base, model, user] = process.argv.slice(2);
const client = new OpenAI({ apiKey: process.env.SDK_BACKEND_TOKEN, baseURL: `${base}/openai/v1` });
const secret = await client.realtime.clientSecrets.create(
  {
    expires_after: { anchor: "created_at", seconds: 300 },
    session: { type: "realtime", model, output_modalities: ["text"] },
  },
  { headers: { "X-Relay-Identity": user } },
);
process.stdout.write(JSON.stringify(secret) + "\n");
