// The agent softphone (issue 6, point 2; seed 002 "Generic Softphone SSO" and "Pop-Up of the
// Contact Card"). Opened as /softphone?tenant=...&session=..., usually in a CRM's iframe.
// Everything it does goes through the native REST API with the session as a Bearer token; it
// learns what happens from /v1/events and tells the parent page with postMessage (a JSON
// string, as the seed's listener parses `e.data`): IncomingCall, Answered, Hangup,
// StatusChanged. When its websocket comes back after a drop it reloads its call and status
// from REST, so a call that ended meanwhile is not left showing (and Hangup is still sent).

import { Api, LiveSocket, el, params, wsUrl } from "./common.js";
import { MediaLine } from "./rtc.js";

const session = params.get("session");
const tenant = params.get("tenant");
const parentOrigin = params.get("origin") || "*";
const api = new Api(`Bearer ${session}`);
const line = new MediaLine(el("remote"));

let me = null;
let call = null; // {id, number, queue, state: "ringing" | "connected" | "held"}
let agent = null; // the last agent state
let muted = false;
let ringTimer = null;
const SAFETY_RESYNC_S = 30;

function tell(messageType, fields = {}) {
  if (window.parent === window) return;
  const message = { messageType, tenant, agent: me?.agent_id, ...fields };
  window.parent.postMessage(JSON.stringify(message), parentOrigin);
}

function callFields(c) {
  return { phoneNumber: c.number, queue: c.queue, activecallkey: c.id };
}

function showError(error) {
  el("error").textContent = error ? String(error.message || error) : "";
}

async function act(work) {
  showError(null);
  try {
    await work();
  } catch (error) {
    showError(error);
    await resync();
  }
}

// -- call state --------------------------------------------------------------------------------

function ringing(id, number, queue, timeoutS) {
  if (call && call.id === id) return;
  call = { id, number, queue, state: "ringing" };
  tell("IncomingCall", callFields(call));
  clearTimeout(ringTimer);
  // the server says when the offer ends (call.offer_ended); this slower reload is only a
  // safety net should that message be lost with a dropped socket
  ringTimer = setTimeout(resync, ((timeoutS || 30) + SAFETY_RESYNC_S) * 1000);
  render();
}

function connected(id, number, queue, held) {
  if (!call || call.id !== id) {
    call = { id, number, queue, state: "ringing" };
    tell("IncomingCall", callFields(call));
  }
  if (call.state === "ringing") tell("Answered", callFields(call));
  call.state = held ? "held" : "connected";
  clearTimeout(ringTimer);
  render();
}

function ended(id, reason) {
  if (!call || call.id !== id) return;
  const was = call;
  call = null;
  clearTimeout(ringTimer);
  tell("Hangup", { ...callFields(was), reason: reason || "" });
  render();
}

function agentChanged(state) {
  const before = agent;
  agent = state;
  if (!before || before.manual_status !== state.manual_status || before.reason !== state.reason) {
    if (before) tell("StatusChanged", { status: state.manual_status, reason: state.reason });
  }
  render();
}

// -- what the server says ------------------------------------------------------------------------

function onEvent(message) {
  const data = message.data || {};
  if (message.type === "call.offered" && data.agent_id === me.agent_id) {
    ringing(data.call_id, data.from_number, data.queue_id, data.timeout_s);
  } else if (message.type === "call.state_changed") {
    if (data.agent_id === me.agent_id && (data.state === "connected" || data.state === "held")) {
      const number = call && call.id === data.call_id ? call.number : "";
      connected(data.call_id, number, data.queue_id, data.state === "held");
    } else if (call && call.id === data.call_id && data.agent_id !== me.agent_id) {
      ended(data.call_id, data.state);
    }
  } else if (message.type === "call.offer_ended" && data.agent_id === me.agent_id) {
    // timeout, rejected, caller_hung_up, answered_elsewhere...: it no longer rings here
    ended(data.call_id, data.reason);
  } else if (message.type === "call.transferred" && data.agent_id === me.agent_id) {
    ended(data.call_id, "transferred");
    refreshAgent();
  } else if (message.type === "call.ended") {
    ended(data.call_id, data.end_reason);
    refreshAgent();
  } else if (message.type === "agent.state_changed" && data.agent_id === me.agent_id) {
    agentChanged({ ...(agent || {}), ...data });
  }
}

async function refreshAgent() {
  agentChanged(await api.get(`/v1/agents/${me.agent_id}/state`));
}

// After a (re)connect: the REST API is the truth.
async function resync() {
  try {
    const page = await api.get("/v1/calls?limit=50");
    const mine = page.items.find((c) => c.agent_id === me.agent_id && ["connected", "held"].includes(c.state))
      || page.items.find((c) => c.state === "offering" && c.offered_to.includes(me.agent_id));
    if (call && (!mine || mine.call_id !== call.id)) ended(call.id, "resync");
    if (mine && mine.state === "offering") ringing(mine.call_id, mine.from_number, mine.queue_id, 30);
    else if (mine) connected(mine.call_id, mine.from_number, mine.queue_id, mine.state === "held");
    await refreshAgent();
  } catch (error) {
    showError(error);
  }
}

// -- rendering ---------------------------------------------------------------------------------

function render() {
  const has = Boolean(call);
  const talking = has && call.state !== "ringing";
  el("call-idle").hidden = has;
  el("call-info").hidden = !has;
  if (has) {
    el("call-number").textContent = call.number || "unknown number";
    el("call-state").textContent = call.state;
    el("call-queue").textContent = call.queue || "–";
    el("call-id").textContent = call.id;
  }
  el("answer").disabled = !(has && call.state === "ringing");
  el("reject").disabled = !(has && call.state === "ringing");
  el("hangup").disabled = !talking;
  el("hold").disabled = !talking;
  el("hold").textContent = has && call.state === "held" ? "Resume" : "Hold";
  el("mute").disabled = !talking;
  el("mute").textContent = muted ? "Unmute" : "Mute";
  el("transfer").disabled = !talking;
  if (agent) {
    const value = agent.manual_status === "AVAILABLE" ? "AVAILABLE" : `NOT_READY:${agent.reason}`;
    if ([...el("status").options].some((o) => o.value === value)) el("status").value = value;
    el("status-now").textContent = `${agent.manual_status}${agent.reason ? ` (${agent.reason})` : ""} · ${agent.activity}${agent.online ? "" : " · offline"}`;
    el("wrapup").hidden = agent.activity !== "wrap_up";
  }
  document.body.dataset.call = has ? call.state : "none";
  document.body.dataset.status = agent ? agent.manual_status : "";
}

// -- controls ----------------------------------------------------------------------------------

function wire() {
  el("answer").onclick = () => act(() => api.post(`/v1/calls/${call.id}/answer`));
  el("reject").onclick = () => act(async () => {
    // ended first: the engine may offer the same call again (one agent) before the POST
    // returns, and that offer is a new IncomingCall
    const id = call.id;
    ended(id, "rejected");
    await api.post(`/v1/calls/${id}/reject`);
  });
  el("hangup").onclick = () => act(() => api.post(`/v1/calls/${call.id}/hangup`));
  el("hold").onclick = () => act(() =>
    api.post(`/v1/calls/${call.id}/${call.state === "held" ? "resume" : "hold"}`));
  el("mute").onclick = () => {
    muted = !muted;
    line.setMuted(muted);
    render();
  };
  el("transfer").onclick = () => act(async () => {
    const target = el("transfer-target").value.trim();
    if (!target) throw new Error("transfer: name an agent or a queue");
    // a blind transfer: the server's call.transferred ends the call here (it comes too when
    // someone else, e.g. a supervisor's API call, transfers it)
    await api.post(`/v1/calls/${call.id}/transfer`, { [el("transfer-kind").value]: target });
    el("transfer-target").value = "";
  });
  el("status").onchange = () => act(async () => {
    const [status, reason] = el("status").value.split(":");
    agentChanged(await api.put(`/v1/agents/${me.agent_id}/status`, { manual_status: status, reason: reason || "" }));
  });
  el("wrapup-done").onclick = () => act(async () => {
    const body = { disposition: el("disposition").value || null, notes: el("notes").value || null };
    agentChanged(await api.post(`/v1/agents/${me.agent_id}/wrap-up/end`, body));
    el("disposition").value = "";
    el("notes").value = "";
  });
  for (const key of "123456789*0#") {
    const button = document.createElement("button");
    button.textContent = key;
    button.onclick = () => phone.send({ type: "dtmf", digits: key });
    el("keypad").appendChild(button);
  }
}

// -- start -------------------------------------------------------------------------------------

let phone = null;

let expired = false;

function sessionExpired(code, reason) {
  // either socket may be refused first: stop both, tell the parent once
  if (window.softphone) window.softphone.events.stop();
  if (phone) phone.stop();
  line.close();
  if (expired) return;
  expired = true;
  showError(`signed out: ${reason || code}`);
  tell("SessionExpired", { reason: reason || String(code) });
}

async function startMedia() {
  try {
    const sdp = await line.offer();
    line.pc.onconnectionstatechange = () => {
      const pc = line.pc;
      // a line that fails (network change, server restart) is replaced, not left silent
      if (pc && pc.connectionState === "failed" && phone) startMedia();
    };
    phone.send({ type: "offer", sdp });
  } catch (error) {
    el("media").textContent = "no audio";
    showError(`audio: ${error.message || error}`);
  }
}

async function main() {
  if (!session) {
    showError("open as /softphone?tenant=...&session=... (seed 002 SSO)");
    return;
  }
  wire();
  try {
    me = await api.get("/v1/web/me");
  } catch (error) {
    el("link").textContent = "signed out";
    showError(error);
    return;
  }
  if (!me.agent_id || (tenant && tenant !== me.tenant_id)) {
    showError("this session is not an agent's session of this tenant");
    return;
  }
  el("who").textContent = `${me.name || me.agent_id} · ${me.tenant_id}`;
  const status = (state) => {
    el("link").textContent = state;
    el("link").className = `badge ${state}`;
  };
  window.softphone = {
    events: new LiveSocket(wsUrl(`/v1/events?token=${encodeURIComponent(session)}`), {
      onmessage: onEvent,
      onopen: resync,
      onstatus: status,
      onrefused: sessionExpired,
    }),
    state: () => ({ call, agent, media: line.connectionState }),
    drop(ms) {
      this.events.drop(ms);
      phone.drop(ms);
    },
  };
  // the session goes in the first message, never in the URL (logs, Referer)
  phone = new LiveSocket(wsUrl("/web/phone"), {
    hello: () => ({ authorization: `Bearer ${session}` }),
    onrefused: sessionExpired,
    onopen: startMedia,
    onstatus: (state) => {
      if (state === "connected") return; // audio is on once the answer is applied
      el("media").textContent = "audio off";
      el("media").className = "badge";
    },
    onmessage: async (message) => {
      if (message.type === "answer") {
        await line.accept(message.sdp);
        el("media").textContent = "audio on";
        el("media").className = "badge connected";
      } else if (message.type === "media_failed") {
        await startMedia(); // the server dropped a dead line: offer a new one
      } else if (message.type === "error") showError(message.message);
    },
  });
  window.softphone.phone = phone;
  render();
}

main();
