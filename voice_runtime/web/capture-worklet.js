// AudioWorklet processor: microphone samples at the context's rate -> 16 kHz signed 16-bit PCM frames.
//
// Runs on the audio rendering thread. Each 128-sample render quantum is low-pass filtered (a one-pole filter
// at ~7 kHz, enough for speech before dropping to 16 kHz) and resampled by linear interpolation with a fractional
// read position carried across quanta, so no sample is lost or repeated at quantum boundaries. Every
// `frameSamples` output samples (20 ms by default) the frame is posted to the main thread with its RMS energy,
// which the main thread's voice-activity detector uses.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.frameSamples = opts.frameSamples || 320;
    this.step = sampleRate / this.targetRate; // input samples per output sample (3 at 48 kHz)
    this.pos = 0; // fractional read position into the current quantum (may be negative: previous sample)
    this.prev = 0; // the last filtered input sample of the previous quantum
    this.lp = 0;
    const cutoff = Math.min(7000, this.targetRate * 0.45);
    this.alpha = 1 - Math.exp((-2 * Math.PI * cutoff) / sampleRate);
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    if (input && input.length > 0 && input[0].length > 0) {
      const raw = input[0];
      const n = raw.length;
      const filtered = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        this.lp += this.alpha * (raw[i] - this.lp);
        filtered[i] = this.lp;
      }
      while (this.pos < n - 1) {
        const i = Math.floor(this.pos);
        const frac = this.pos - i;
        const a = i < 0 ? this.prev : filtered[i];
        const b = filtered[i + 1];
        this.push(a + (b - a) * frac);
        this.pos += this.step;
      }
      this.pos -= n; // carry the fractional position into the next quantum
      this.prev = filtered[n - 1];
    }
    // Output silence: the node is connected to the destination only so that the graph pulls it.
    for (const output of outputs) for (const channel of output) channel.fill(0);
    return true;
  }

  push(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    this.energy += s * s;
    if (this.filled === this.frameSamples) {
      const rms = Math.sqrt(this.energy / this.frameSamples);
      const pcm = this.frame.buffer.slice(0);
      this.port.postMessage({ pcm, rms }, [pcm]);
      this.filled = 0;
      this.energy = 0;
    }
  }
}

registerProcessor("capture-processor", CaptureProcessor);
