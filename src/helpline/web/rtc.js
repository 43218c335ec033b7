// The browser's media line to the server's `webrtc` adapter (aiortc), over /web/phone.
// Non-trickle: the offer is sent once ICE gathering is complete.
// `window.helplineAudio` lets a test (or a person checking a headset) send a pure tone instead
// of the microphone and measure the strongest frequency of what arrives.

const GATHER_LIMIT_MS = 3000;
const LOW = [697, 770, 852, 941];
const HIGH = [1209, 1336, 1477, 1633];
const DTMF = Object.fromEntries(
  ["123A", "456B", "789C", "*0#D"].flatMap((row, r) => [...row].map((key, c) => [key, [LOW[r], HIGH[c]]])),
);

export class MediaLine {
  constructor(audioElement) {
    this.audio = audioElement;
    this.pc = null;
    this.sender = null;
    this.micTrack = null;
    this.context = null;
    this.analyser = null;
    this.oscillator = null;
    window.helplineAudio = this;
  }

  async offer() {
    this.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    this.micTrack = stream.getAudioTracks()[0];
    if (this.muted) this.micTrack.enabled = false;
    this.sender = pc.addTrack(this.micTrack, stream);
    pc.ontrack = (event) => this.remote(event.streams[0] || new MediaStream([event.track]));
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, GATHER_LIMIT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return pc.localDescription.sdp;
  }

  async accept(sdp) {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  remote(stream) {
    // Chrome feeds Web Audio from a remote stream only while a media element plays it
    this.audio.srcObject = stream;
    this.audio.play().catch(() => {});
    this.context = this.context || new AudioContext();
    const source = this.context.createMediaStreamSource(stream);
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 8192;
    source.connect(this.analyser);
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.micTrack) this.micTrack.enabled = !muted;
  }

  get connectionState() {
    return this.pc ? this.pc.connectionState : "none";
  }

  async sendTone(frequency) {
    this.context = this.context || new AudioContext();
    await this.context.resume();
    if (this.oscillator) this.oscillator.stop();
    const oscillator = this.context.createOscillator();
    oscillator.frequency.value = frequency;
    const gain = this.context.createGain();
    gain.gain.value = 0.5;
    const destination = this.context.createMediaStreamDestination();
    oscillator.connect(gain).connect(destination);
    oscillator.start();
    this.oscillator = oscillator;
    await this.sender.replaceTrack(destination.stream.getAudioTracks()[0]);
  }

  // A DTMF key as sound in the audio itself (ITU-T Q.23 pairs), for servers that detect
  // digits in-band: the fallback when a page's own keypad channel is not used.
  async sendDtmf(key, ms = 150) {
    const pair = DTMF[key];
    if (!pair || !this.sender) return;
    this.context = this.context || new AudioContext();
    await this.context.resume();
    const destination = this.context.createMediaStreamDestination();
    const oscillators = pair.map((frequency) => {
      const oscillator = this.context.createOscillator();
      oscillator.frequency.value = frequency;
      const gain = this.context.createGain();
      gain.gain.value = 0.25;
      oscillator.connect(gain).connect(destination);
      oscillator.start();
      return oscillator;
    });
    const previous = this.sender.track;
    await this.sender.replaceTrack(destination.stream.getAudioTracks()[0]);
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.sender.replaceTrack(previous);
    oscillators.forEach((oscillator) => oscillator.stop());
  }

  // The strongest frequency (Hz) between 200 and 4000 Hz of what the other side sends, and
  // its level in dB; null before any audio arrived.
  async peak() {
    if (!this.analyser) return null;
    await this.context.resume();
    const bins = new Float32Array(this.analyser.frequencyBinCount);
    this.analyser.getFloatFrequencyData(bins);
    const hz = this.context.sampleRate / this.analyser.fftSize;
    let best = -1;
    for (let i = Math.ceil(200 / hz); i < Math.min(bins.length, 4000 / hz); i++) {
      if (best < 0 || bins[i] > bins[best]) best = i;
    }
    return best < 0 ? null : { frequency: best * hz, level: bins[best] };
  }

  close() {
    if (this.oscillator) this.oscillator.stop();
    this.oscillator = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.micTrack) this.micTrack.stop();
  }
}
