"""Export a tiny keyword model with its audio front end in the graph (run in a subprocess; needs torch).
Weights are seeded, not trained: the tests check that qcomp computes what onnxruntime computes.

  python export_audio.py OUT_DIR [--opset 14]

OUT_DIR/audio_kws.onnx: a waveform x [1, 224] (16 kHz) -> logits [1, 8]:

  frames = Conv1d(x, I_64, stride 32)           framing: 6 frames of 64 samples (an identity kernel)
  re, im = (frames * hann) @ C, (frames * hann) @ S
                                                 a 64-point DFT, C[n, k] = cos(2 pi k n / 64),
                                                 S[n, k] = -sin(2 pi k n / 64), bins k = 0 .. 32
  power  = re ** 2 + im * im                     Pow and Mul
  mel    = power @ M                             16 triangular mel filters (HTK mel scale)
  feats  = log(mel + 1)                          Add of an epsilon, Log
  h      = LSTM(16 -> 24) over the 6 frames     its last hidden state
  logits = Linear(24 -> 8)

Static-shape TorchScript export (torch.onnx.export, dynamo=False).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

SAMPLES, N_FFT, HOP, N_MELS, RATE = 224, 64, 32, 16, 16000   # 6 frames: a small fixture


def mel_matrix(n_bins: int, n_mels: int, rate: int) -> torch.Tensor:
    """[n_bins, n_mels] triangular filters, equally spaced on mel = 2595 log10(1 + f / 700)."""
    def mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = [hz(mel(0.0) + (mel(rate / 2) - mel(0.0)) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    freqs = torch.arange(n_bins, dtype=torch.float64) * rate / (2 * (n_bins - 1))
    m = torch.zeros(n_bins, n_mels, dtype=torch.float64)
    for j in range(n_mels):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        m[:, j] = torch.clamp(torch.minimum(up, down), min=0.0)
    return m.float()


class AudioKws(torch.nn.Module):
    def __init__(self):
        super().__init__()
        n = torch.arange(N_FFT, dtype=torch.float64)
        k = torch.arange(N_FFT // 2 + 1, dtype=torch.float64)
        angle = 2 * math.pi * n[:, None] * k[None, :] / N_FFT
        self.register_buffer("frame_kernel", torch.eye(N_FFT).reshape(N_FFT, 1, N_FFT))
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True))
        self.register_buffer("cos", torch.cos(angle).float())
        self.register_buffer("sin", (-torch.sin(angle)).float())
        self.register_buffer("mel", mel_matrix(N_FFT // 2 + 1, N_MELS, RATE))
        self.lstm = torch.nn.LSTM(N_MELS, 24, batch_first=True)
        self.fc = torch.nn.Linear(24, 8)

    def forward(self, x):
        frames = torch.nn.functional.conv1d(x.unsqueeze(1), self.frame_kernel, stride=HOP)   # [1, 64, 6]
        frames = frames.transpose(1, 2) * self.window                                        # [1, 6, 64]
        re, im = frames @ self.cos, frames @ self.sin                                        # [1, 6, 33]
        power = re ** 2 + im * im
        feats = torch.log(power @ self.mel + 1.0)                                           # [1, 6, 16]
        _, (h, _) = self.lstm(feats)
        return self.fc(h.squeeze(0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--opset", type=int, default=14)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = AudioKws().eval()
    torch.onnx.export(model, (torch.zeros(1, SAMPLES),), str(args.out_dir / "audio_kws.onnx"), input_names=["audio"],
                      output_names=["logits"], opset_version=args.opset, dynamo=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
