// Connects to the event stream as the platform's clients do (CONVENTIONS 11) and prints one JSON
// line per happening: {"kind":"connect"}, {"kind":"connect_error","message":…},
// {"kind":"message","payload":…}, {"kind":"disconnect","reason":…}. Ends when stdin closes.
// Usage: node watch.mjs <base URL> <token> [last_event_id] [realm_id]
import { io } from "socket.io-client";

const [base, token, lastEventId, realm] = process.argv.slice(2);
const auth = { token };
if (lastEventId) auth.last_event_id = lastEventId;
const socket = io(base, {
  path: "/api/v1/events",
  auth,
  query: realm ? { realm_id: realm } : {},
  reconnection: false,
});
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
socket.on("connect", () => out({ kind: "connect", transport: socket.io.engine.transport.name }));
socket.on("connect_error", (e) => out({ kind: "connect_error", message: e.message }));
socket.on("message", (payload) => out({ kind: "message", payload }));
socket.on("disconnect", (reason) => out({ kind: "disconnect", reason }));
process.stdin.on("end", () => { socket.close(); process.exit(0); });
process.stdin.resume();
