// The event stream benchmark (scripts/bench `stream`): N sockets of one user over websocket,
// then K project renames through the REST API, EVENTS_CONCURRENCY at a time. Prints one JSON
// line: deliveries/s to all sockets (from the first write to the last delivery) and the latency
// from the event's write (its `timestamp`) to each socket's receipt, p50 and p99, in ms.
// Usage: node bench.mjs <base URL> <jwt> <project id> [sockets=1000] [events=200]
import { io } from "socket.io-client";

const [base, jwt, project, n = "1000", k = "200"] = process.argv.slice(2);
const sockets = Number(n), events = Number(k), conc = Number(process.env.EVENTS_CONCURRENCY || 4);
const lat = [];
let got = 0, last = 0;
const want = sockets * events;
const all = [];
await new Promise((ready, fail) => {
  let up = 0;
  for (let i = 0; i < sockets; i++) {
    const s = io(base, { path: "/api/v1/events", auth: { token: jwt }, transports: ["websocket"], reconnection: false, forceNew: true });
    s.on("connect", () => { if (++up === sockets) ready(); });
    s.on("connect_error", (e) => fail(new Error(e.message)));
    s.on("message", (m) => {
      if (m.type !== "event" || m.event !== "project.updated") return;
      const now = Date.now();
      lat.push(now - Date.parse(m.timestamp));
      got++; last = now;
    });
    all.push(s);
  }
});
const start = Date.now();
let next = 0;
async function writer() {
  while (next < events) {
    const i = next++;
    const r = await fetch(`${base}/api/v1/projects/${project}`, {
      method: "PUT", headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
      body: JSON.stringify({ alias: `bench-${i}` }),
    });
    if (r.status !== 200) throw new Error(`rename: ${r.status}`);
  }
}
await Promise.all(Array.from({ length: conc }, writer));
const written = Date.now();
const deadline = Date.now() + 60000;
while (got < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(JSON.stringify({
  sockets, events, delivered: got, expected: want,
  writes_per_s: +(events / ((written - start) / 1000)).toFixed(1),
  deliveries_per_s: Math.round(got / ((last - start) / 1000)),
  latency_ms: { p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] },
}));
for (const s of all) s.close();
process.exit(got === want ? 0 : 1);
