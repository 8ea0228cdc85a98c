// The official openai client against Tandem's /v1/chat/completions. Prints one JSON object on stdout:
// { stream: {text, completion_tokens, prompt_tokens, cached_tokens, finish_reason, chunks},
//   whole: {text, completion_tokens, finish_reason}, bad: {status, type, message} }
// Usage: node openai-chat.mjs BASE_URL IMAGE_FILE QUESTION MAX_TOKENS [API_KEY]
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const [baseURL, imageFile, question, maxTokens, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: apiKey || "unused", maxRetries: 0, timeout: 120_000 });
const models = await client.models.list();
const model = models.data[0].id;
const image = "data:image/png;base64," + readFileSync(imageFile).toString("base64");
const messages = [{ role: "user", content: [
  { type: "image_url", image_url: { url: image } },
  { type: "text", text: question },
] }];
const greedy = { model, messages, temperature: 0, max_tokens: Number(maxTokens) };

const out = {};
const stream = await client.chat.completions.create({ ...greedy, stream: true, stream_options: { include_usage: true } });
let text = "";
let chunks = 0;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? "";
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  if (chunk.usage) usage = chunk.usage;
}
out.stream = {
  text, chunks, finish_reason: finish,
  completion_tokens: usage?.completion_tokens, prompt_tokens: usage?.prompt_tokens,
  cached_tokens: usage?.prompt_tokens_details?.cached_tokens,
};

const whole = await client.chat.completions.create(greedy);
out.whole = {
  text: whole.choices[0].message.content, finish_reason: whole.choices[0].finish_reason,
  completion_tokens: whole.usage.completion_tokens,
};

try {
  await client.chat.completions.create({ ...greedy, n: 2 });
  out.bad = { status: 200 };
} catch (e) {
  if (!(e instanceof OpenAI.APIError)) throw e;
  out.bad = { status: e.status, type: e.error?.type ?? e.type, message: e.error?.message ?? e.message };
}
console.log(JSON.stringify(out));
