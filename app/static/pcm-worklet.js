// AudioWorklet processor: microphone -> 24 kHz mono pcm16 little-endian, in 20 ms chunks.
//
// It runs on the audio thread at the AudioContext's rate (`sampleRate`, often 48 kHz).
// Each chunk of 480 samples (960 bytes) is posted to the main thread as an ArrayBuffer,
// which sends it as `input_audio_buffer.append`.

const TARGET_RATE = 24000;
const CHUNK_SAMPLES = 480; // 20 ms at 24 kHz

class Pcm16Downsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / TARGET_RATE; // input samples per output sample
    this.inputCount = 0; // input samples seen so far
    this.nextOutputAt = this.ratio; // input position where the current output sample ends
    this.sum = 0; // running sum of the input samples in the current output slot
    this.count = 0;
    this.last = 0;
    this.startChunk();
  }

  startChunk() {
    this.chunk = new DataView(new ArrayBuffer(CHUNK_SAMPLES * 2));
    this.filled = 0;
  }

  // Downsample by averaging each slot of `ratio` input samples (a box filter, enough for
  // speech); when the device is slower than 24 kHz the last value is repeated instead.
  process(inputs) {
    const channel = inputs[0]?.[0]; // first input, first channel (mono)
    if (!channel) return true;
    for (const x of channel) {
      this.sum += x;
      this.count += 1;
      this.inputCount += 1;
      while (this.inputCount >= this.nextOutputAt) {
        if (this.count > 0) this.last = this.sum / this.count;
        this.sum = 0;
        this.count = 0;
        this.nextOutputAt += this.ratio;
        this.push(this.last);
      }
    }
    return true; // keep the processor alive
  }

  push(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    const int16 = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.chunk.setInt16(this.filled * 2, int16, true); // true = little-endian
    this.filled += 1;
    if (this.filled === CHUNK_SAMPLES) {
      const buffer = this.chunk.buffer;
      this.port.postMessage(buffer, [buffer]); // transfer, no copy
      this.startChunk();
    }
  }
}

registerProcessor("pcm16-downsampler", Pcm16Downsampler);
