#!/usr/bin/env python3
"""PyTorch peer of sslzoo's MMV video-audio train step, to time side by side.

One step: a clip batch (B, T, H, W, 3) through a TSM-ResNet (temporal shift of
1/8 of the channels each way at the start of every residual branch, torchvision
v1.5 layout, frames folded into the batch), a raw waveform batch (B, samples)
through an in-graph log-mel spectrogram (periodic Hann STFT, HTK mel filters,
log(x + 1e-6), as `sslzoo.data.av.log_mel`) and an audio CNN, MMV's FAC heads
into S_va (video: Linear (no bias)-BN-ReLU-Linear; audio: Linear), the symmetric NCE at
temperature 0.07 on cosine similarities (`sslzoo.losses.nce`), backward and Adam.
Prints one JSON line with `clips_per_s` and `step_s`.

The same computation in sslzoo (weights initialised differently; compare time only) is
`bench/mmv_step.py --loss va` with the same flags (same trainable parameter count; both
print `params_by_part`); bench/mmv_compare.py runs the two alternately:

    video = sslzoo.backbones.tsm_resnet(DEPTH, stem=STEM, width=WIDTH)
    audio = sslzoo.backbones.small_audio_cnn(sample_rate=RATE)        # --audio small
          | sslzoo.backbones.audio_resnet(18, stem="cifar", width=WIDTH, sample_rate=RATE,
                                          num_mel_bins=40, frame_length=512, frame_step=256)
    loss  = sslzoo.losses.nce(fac_va(video(v)), linear(audio(a)), temperature=0.07)

Set-up, once, in the peer environment of ../shared/bench/README.md (torch never
enters sslzoo's environment):

    python3 -m venv $HOME/.venvs/peer && $HOME/.venvs/peer/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly

Run (AV-digits CPU shapes, then a published-recipe-sized TSM-ResNet50 on a GPU):

    $HOME/.venvs/peer/bin/python bench/mmv_peer_torch.py --depth 18 --stem cifar --width 0.125 \\
        --batch 8 --frames 16 --size 32 --samples 16000 --sample-rate 16000 --audio small
    $HOME/.venvs/peer/bin/python bench/mmv_peer_torch.py --depth 50 --stem imagenet --width 1 \\
        --batch 32 --frames 32 --size 200 --samples 153600 --sample-rate 48000 --audio resnet50 \\
        --device cuda --channels-last

Machines here are shared and noisy: alternate with the sslzoo side in the same
session, several rounds, and quote the median ratio.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LAYOUTS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}
STAGE_CHANNELS = (64, 128, 256, 512)


def scaled(channels, width):
    return max(1, int(round(channels * width)))


# ----------------------------------------------------------------------------- TSM-ResNet


def temporal_shift(x, frames, fraction=0.125):
    """x (B*T, C, H, W): channels [0, n) take frame t+1, [n, 2n) frame t-1 (zeros past the ends)."""
    bt, c, h, w = x.shape
    n = int(c * fraction)
    if n == 0:
        return x
    clips = x.view(bt // frames, frames, c, h, w)
    out = torch.zeros_like(clips)
    out[:, :-1, :n] = clips[:, 1:, :n]
    out[:, 1:, n:2 * n] = clips[:, :-1, n:2 * n]
    out[:, :, 2 * n:] = clips[:, :, 2 * n:]
    return out.view(bt, c, h, w)


def conv_bn(cin, cout, k, stride, zero_gamma=False):
    bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
    if zero_gamma:
        nn.init.zeros_(bn.weight)
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(conv, bn)


class Block(nn.Module):
    """Basic or bottleneck residual block; `frames` > 0 shifts the branch input in time (TSM)."""

    def __init__(self, kind, cin, channels, stride, frames=0):
        super().__init__()
        out = channels * (4 if kind == "bottleneck" else 1)
        self.frames = frames
        self.shortcut = conv_bn(cin, out, 1, stride) if (stride != 1 or cin != out) else nn.Identity()
        if kind == "basic":
            self.branch = nn.Sequential(conv_bn(cin, channels, 3, stride), nn.ReLU(inplace=True),
                                        conv_bn(channels, channels, 3, 1, zero_gamma=True))
        else:
            self.branch = nn.Sequential(conv_bn(cin, channels, 1, 1), nn.ReLU(inplace=True),
                                        conv_bn(channels, channels, 3, stride), nn.ReLU(inplace=True),
                                        conv_bn(channels, out, 1, 1, zero_gamma=True))
        self.out_channels = out

    def forward(self, x):
        y = temporal_shift(x, self.frames) if self.frames else x
        return F.relu(self.shortcut(x) + self.branch(y))


class ResNet(nn.Module):
    """(N, C_in, H, W) -> (N, F); with `frames`, N = B*T and every block shifts in time."""

    def __init__(self, depth, stem, width, in_channels=3, frames=0):
        super().__init__()
        kind, blocks = LAYOUTS[depth]
        c = scaled(64, width)
        if stem == "imagenet":
            self.stem = nn.Sequential(conv_bn(in_channels, c, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(conv_bn(in_channels, c, 3, 1), nn.ReLU(inplace=True))
        layers = []
        for stage, (channels, count) in enumerate(zip(STAGE_CHANNELS, blocks)):
            for i in range(count):
                block = Block(kind, c, scaled(channels, width), 2 if (stage > 0 and i == 0) else 1, frames)
                layers.append(block)
                c = block.out_channels
        self.blocks = nn.Sequential(*layers)
        self.features = c

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class TSMResNet(nn.Module):
    """Clips (B, T, H, W, 3) in [0, 1] -> (B, F), ImageNet-normalised, averaged over T, H, W."""

    def __init__(self, depth, stem, width, frames):
        super().__init__()
        self.frames = frames
        self.net = ResNet(depth, stem, width, frames=frames)
        self.features = self.net.features
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, video, channels_last=False):
        b, t, h, w, _ = video.shape
        x = video.reshape(b * t, h, w, 3).permute(0, 3, 1, 2)
        x = (x - self.mean) / self.std
        x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return self.net(x).view(b, t, -1).mean(dim=1)


# ----------------------------------------------------------------------------- audio


def mel_matrix(num_bins, spectrogram_bins, sample_rate, lower_hz, upper_hz):
    """HTK-mel triangles as tf.signal.linear_to_mel_weight_matrix builds them: (spectrogram_bins, num_bins)."""
    def to_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)
    bins = to_mel(np.linspace(0.0, sample_rate / 2.0, spectrogram_bins)[1:])[:, None]
    edges = np.linspace(to_mel(lower_hz), to_mel(upper_hz), num_bins + 2)
    left, center, right = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    weights = np.maximum(0.0, np.minimum((bins - left) / (center - left), (right - bins) / (right - center)))
    return torch.tensor(np.concatenate([np.zeros((1, num_bins)), weights]), dtype=torch.float32)


class LogMel(nn.Module):
    """(B, samples) -> (B, ceil(samples / step), bins): |STFT| (periodic Hann, end zero-padded) -> mel -> log."""

    def __init__(self, sample_rate, bins, frame_length, frame_step, lower_hz=80.0, upper_hz=7600.0):
        super().__init__()
        self.length, self.step = frame_length, frame_step
        self.register_buffer("window", torch.hann_window(frame_length, periodic=True))
        self.register_buffer("mel", mel_matrix(bins, frame_length // 2 + 1, sample_rate, lower_hz, upper_hz))

    def forward(self, x):
        frames = math.ceil(x.shape[-1] / self.step)
        x = F.pad(x, (0, (frames - 1) * self.step + self.length - x.shape[-1]))
        spec = torch.stft(x, self.length, self.step, window=self.window, center=False, return_complex=True)
        return torch.log(spec.abs().transpose(1, 2) @ self.mel + 1e-6)


class AudioEncoder(nn.Module):
    """Waveform (B, samples) -> log-mel image (B, 1, frames, bins) -> BN -> CNN -> (B, F)."""

    def __init__(self, arch, sample_rate, width):
        super().__init__()
        if arch == "small":  # sslzoo.backbones.small_audio_cnn defaults
            self.log_mel = LogMel(sample_rate, 40, 512, 256)
            layers, c = [], 1
            for i, filters in enumerate((32, 64, 128)):
                layers += [conv_bn(c, filters, 3, 1 if i == 0 else 2), nn.ReLU(inplace=True)]
                c = filters
            self.net = nn.Sequential(*layers)
            self.features = c
        else:
            depth = int(arch.replace("resnet", ""))
            if depth == 50:  # MMV's audio ResNet50 at 48 kHz, 80 bins, 2048 / 1024
                self.log_mel = LogMel(sample_rate, 80, 2048, 1024)
                self.net = ResNet(depth, "imagenet", width, in_channels=1)
            else:
                self.log_mel = LogMel(sample_rate, 40, 512, 256)
                self.net = ResNet(depth, "cifar", width, in_channels=1)
            self.features = self.net.features
        self.input_bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.1)

    def forward(self, waveform):
        x = self.input_bn(self.log_mel(waveform).unsqueeze(1))
        y = self.net(x)
        return y if y.dim() == 2 else y.mean(dim=(2, 3))


# ----------------------------------------------------------------------------- the step


def nce(x, y, temperature=0.07):
    """Symmetric InfoNCE on cosine similarities / temperature, positives on the diagonal."""
    logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).t() / temperature
    labels = torch.arange(x.shape[0], device=x.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=18, choices=sorted(LAYOUTS))
    p.add_argument("--stem", default="cifar", choices=["cifar", "imagenet"])
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--samples", type=int, default=16000)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--audio", default="small", choices=["small", "resnet18", "resnet50"])
    p.add_argument("--embedding-dim", type=int, default=512, help="S_va size (MMV: 512)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = all cores")
    p.add_argument("--device", default="cpu")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)

    video_net = TSMResNet(a.depth, a.stem, a.width, a.frames)
    audio_net = AudioEncoder(a.audio, a.sample_rate, a.width)
    d = a.embedding_dim
    # The first Linear feeds a BN, so it has no bias (sslzoo.models.mmv._mlp, MMV's heads).
    video_head = nn.Sequential(nn.Linear(video_net.features, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(),
                               nn.Linear(d, d))
    audio_head = nn.Linear(audio_net.features, d)
    modules = nn.ModuleList([video_net, audio_net, video_head, audio_head]).to(device)
    if a.channels_last:
        video_net.net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(modules.parameters(), lr=2e-3)

    video = torch.rand(a.batch, a.frames, a.size, a.size, 3, device=device)
    audio = 0.1 * torch.randn(a.batch, a.samples, device=device)

    def step():
        loss = nce(video_head(video_net(video, a.channels_last)), audio_head(audio_net(audio)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    step_s = float(np.median(times))
    def count(module):
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    params = count(modules)
    by_part = {"video_encoder": count(video_net), "audio_encoder": count(audio_net),
               "video_head": count(video_head), "audio_head": count(audio_head)}
    print(json.dumps({"what": "mmv_va_step", "depth": a.depth, "stem": a.stem, "width": a.width,
                      "batch": a.batch, "frames": a.frames, "size": a.size, "samples": a.samples,
                      "audio": a.audio, "device": a.device, "threads": torch.get_num_threads(),
                      "trainable_params": params, "params_by_part": by_part, "step_s": step_s, "clips_per_s": a.batch / step_s,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
