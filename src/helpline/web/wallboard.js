// The wallboard (issue 6, point 4): live queues, agents and today's figures.
// Credentials: an API key in the URL's fragment, /wallboard#key=KEY_ID:SECRET (a fragment is
// never sent to the server, so the secret stays out of logs), or an agent session,
// /wallboard?session=.... Snapshots arrive over /web/wallboard/ws when something changes;
// a REST refresh every 15 s covers a socket that is down; the clock ticks the times between.

import { Api, LiveSocket, duration, el, params, percent, startOfToday, wsUrl } from "./common.js";

const fragment = new URLSearchParams(location.hash.slice(1));
const key = fragment.get("key");
const session = params.get("session");
const authorization = key ? `Basic ${btoa(key)}` : `Bearer ${session}`;
const api = new Api(authorization);
const threshold = Number(params.get("sl") || 20);
let snapshot = null;
let received = 0;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render() {
  if (!snapshot) return;
  const age = (Date.now() - received) / 1000; // times grow between snapshots
  const today = snapshot.today;
  el("sl").textContent = percent(today.service_level);
  el("sl-note").textContent = `answered within ${today.service_level_threshold_s} s · ${today.offered} offered`;
  el("asa").textContent = today.asa_s === null ? "–" : `${today.asa_s.toFixed(1)} s`;
  el("abandon").textContent = percent(today.abandon_rate);
  el("abandon-note").textContent = `${today.abandoned} of ${today.offered}`;
  let total = 0;
  const perQueue = today.queues || {};
  const queues = snapshot.queues.map((q) => {
    total += q.waiting;
    const day = perQueue[q.id]; // absent: no answered or abandoned call of this queue today
    const tr = document.createElement("tr");
    tr.dataset.queue = q.id;
    tr.append(
      cell(q.name),
      cell(String(q.waiting), "waiting"),
      cell(q.waiting ? duration(q.longest_wait_s + age) : "–"),
      cell(q.estimated_wait_s === null ? "no agents" : duration(q.estimated_wait_s)),
      cell(String(q.staffed)),
      cell(day ? percent(day.service_level) : "–", "sl"),
      cell(day && day.asa_s !== null ? `${day.asa_s.toFixed(1)} s` : "–", "asa"),
      cell(day ? `${day.abandoned} of ${day.offered}` : "–", "abandoned"),
    );
    return tr;
  });
  el("queues").replaceChildren(...queues);
  el("waiting-total").textContent = String(total);
  const agents = snapshot.agents.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.id;
    const status = a.online ? a.manual_status + (a.reason ? ` (${a.reason})` : "") : "offline";
    tr.append(
      cell(a.name),
      cell(status, a.manual_status === "AVAILABLE" && a.online ? "status-AVAILABLE" : "status-other"),
      cell(a.activity),
      cell(duration(a.in_status_s + age)),
    );
    return tr;
  });
  el("agents").replaceChildren(...agents);
  el("updated").textContent = `updated ${new Date(received).toLocaleTimeString()}`;
}

function take(data) {
  snapshot = data;
  received = Date.now();
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  render();
}

async function refresh() {
  try {
    take(await api.get(`/v1/wallboard?since=${startOfToday()}&sl=${threshold}`));
    el("error").textContent = "";
  } catch (error) {
    el("error").textContent = String(error.message || error);
  }
}

function main() {
  if (!key && !session) {
    el("error").textContent = "open as /wallboard#key=KEY_ID:SECRET or /wallboard?session=...";
    return;
  }
  window.wallboard = new LiveSocket(wsUrl("/web/wallboard/ws"), {
    hello: () => ({ authorization, since: startOfToday(), sl: threshold }),
    onmessage: (message) => message.type === "snapshot" && take(message.data),
    onstatus: (state) => {
      el("link").textContent = state;
      el("link").className = `badge ${state}`;
    },
  });
  refresh();
  setInterval(refresh, 15000);
  setInterval(render, 1000);
}

main();
