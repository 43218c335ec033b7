// The web caller (issue 6, point 3): /call?tenant=TENANT&number=HOTLINE dials a hotline from
// the browser and plays the IVR; the keypad sends keys over the page's websocket (aiortc has
// no telephone-event, so RTCDTMFSender cannot be used). Also a click-to-call widget: a
// business can link to or embed this page with its tenant and number.

import { el, params, wsUrl } from "./common.js";
import { MediaLine } from "./rtc.js";

const tenant = params.get("tenant");
// ?dtmf=inband: keys as tones in the audio (the server's Goertzel fallback) instead of messages
const inband = params.get("dtmf") === "inband";
const line = new MediaLine(el("remote"));
let socket = null;
let callId = null;

function setState(state) {
  el("state").textContent = state;
  document.body.dataset.state = state;
  const live = state !== "idle" && state !== "ended";
  el("dial").disabled = live;
  el("hangup").disabled = !live;
}

function fail(message) {
  el("error").textContent = message;
}

async function dial() {
  fail("");
  const to = el("number").value.trim();
  if (!tenant) return fail("open as /call?tenant=...&number=...");
  if (!to) return fail("number: enter the hotline to call");
  setState("connecting");
  el("pressed").textContent = "";
  const sdp = await line.offer();
  socket = new WebSocket(wsUrl(`/web/phone?tenant=${encodeURIComponent(tenant)}`));
  socket.onopen = () =>
    socket.send(JSON.stringify({ type: "dial", to, from: params.get("from") || "web", sdp, dtmf: inband ? "inband" : "message" }));
  socket.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "answer") {
      callId = message.call_id;
      document.body.dataset.callId = callId;
      await line.accept(message.sdp);
      line.pc.onconnectionstatechange = () => {
        const state = line.pc && line.pc.connectionState;
        if (state === "failed" || state === "closed") finish("the audio connection failed");
      };
      setState("in call");
    } else if (message.type === "ended") {
      finish(`ended: ${message.reason}`);
    } else if (message.type === "error") {
      fail(message.message);
      if (!callId) finish("not connected");
    }
  };
  socket.onclose = (event) => {
    if (document.body.dataset.state !== "ended") finish(event.reason || "disconnected");
  };
}

function finish(note) {
  setState("ended");
  el("pressed").textContent = note;
  line.close();
  if (socket && socket.readyState === WebSocket.OPEN) socket.close();
}

function main() {
  el("number").value = params.get("number") || "";
  el("dial").onclick = () => dial().catch((error) => { fail(String(error.message || error)); setState("idle"); });
  el("hangup").onclick = () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "hangup" }));
    finish("you hung up");
  };
  for (const key of "123456789*0#") {
    const button = document.createElement("button");
    button.textContent = key;
    button.onclick = () => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (inband) line.sendDtmf(key);
      else socket.send(JSON.stringify({ type: "dtmf", digits: key }));
      el("pressed").textContent += key;
    };
    el("keypad").appendChild(button);
  }
  setState("idle");
}

main();
