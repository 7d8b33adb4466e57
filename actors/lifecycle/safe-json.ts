/** JSON of a message body, or undefined when it is not JSON (a best-effort read for replies and error reports). */
export function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
