"""sslzoo's MMV video-audio train step beside the PyTorch peer's, run alternately on this machine.

    python bench/mmv_compare.py                        # AV-digits CPU shape, 5 runs each, 2 threads
    python bench/mmv_compare.py --runs 7 --batch 16 --jit_compile

Each run is a fresh process: `bench/mmv_step.py --loss va` (sslzoo) and
`bench/mmv_peer_torch.py` (PyTorch, in the peer venv of ../shared/bench/README.md),
same configuration (TSM-ResNet video, log-mel audio CNN, FAC S_va heads, NCE at
0.07, Adam), same batch, same steps, both with `--threads` intra-op threads.
Rounds alternate the order (sslzoo first, then peer first, ...) so a drifting
load hits both sides alike. The parameter counts of the two sides must be equal
(checked; the run stops otherwise).

Prints per-run clips/s with the 1-minute load average before each run, the
medians and the ratio sslzoo / peer (of the medians, and the median of the
per-round ratios); then the sslzoo step's breakdown: the median share of the
video and audio encoders' forward + backward (with their heads) from the
sslzoo runs, and one full `MMV.train_step` run (`--loss mmv`, text branch and
MIL-NCE added, the same video and audio encoders) for the text encoder's share.
The last line is a JSON summary.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(command, env):
    """Runs `command`, returns its last stdout line parsed as JSON (raises with stderr on failure)."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="runs of each side")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=8, help="timed steps per run (after 2 warm-up steps)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of both sides")
    p.add_argument("--depth", type=int, default=18)
    p.add_argument("--stem", default="cifar")
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--samples", type=int, default=16000)
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--audio", default="small", choices=["small", "resnet18", "resnet50"])
    p.add_argument("--va_dim", type=int, default=512, help="S_va width, both sides (the peer's default, MMV's)")
    p.add_argument("--jit_compile", action="store_true", help="XLA for the sslzoo step")
    p.add_argument("--no_breakdown", action="store_true", help="time the sslzoo step only")
    p.add_argument("--peer_python", default=os.path.expanduser("~/.venvs/peer/bin/python"))
    a = p.parse_args()

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(a.threads))
    shape = ["--depth", str(a.depth), "--stem", a.stem, "--width", str(a.width), "--batch", str(a.batch),
             "--frames", str(a.frames), "--size", str(a.size), "--samples", str(a.samples), "--audio", a.audio,
             "--steps", str(a.steps), "--threads", str(a.threads)]
    sslzoo = ([sys.executable, os.path.join(HERE, "mmv_step.py"), "--loss", "va", "--video", "tsm",
               "--sample_rate", str(a.sample_rate), "--va_dim", str(a.va_dim),
               "--parts", "step" if a.no_breakdown else "all"] + shape + (["--jit_compile"] if a.jit_compile else []))
    peer = ([a.peer_python, os.path.join(HERE, "mmv_peer_torch.py"), "--sample-rate", str(a.sample_rate),
             "--embedding-dim", str(a.va_dim)] + shape)
    print("sslzoo:", " ".join(sslzoo[1:]))
    print("peer:  ", " ".join(peer[1:]))
    print(f"{'round':>5} {'side':>6} {'load1':>6} {'clips/s':>8} {'step_s':>7}  video/audio share", flush=True)

    results = {"sslzoo": [], "peer": []}
    for r in range(a.runs):
        order = ("sslzoo", "peer") if r % 2 == 0 else ("peer", "sslzoo")
        for side in order:
            load = os.getloadavg()[0]
            out = run_json(sslzoo if side == "sslzoo" else peer, env)
            out["load_before"] = load
            results[side].append(out)
            shares = (f"  {out['video_share']:.2f} / {out['audio_share']:.2f}"
                      if "video_share" in out else "")
            print(f"{r + 1:>5} {side:>6} {load:>6.2f} {out['clips_per_s']:>8.2f} {out['step_s']:>7.4f}{shares}",
                  flush=True)
        if r == 0:
            counts = {side: results[side][0]["trainable_params"] for side in results}
            print(f"trainable parameters: sslzoo {counts['sslzoo']:,}  peer {counts['peer']:,}  "
                  f"by part sslzoo {results['sslzoo'][0]['params_by_part']}  peer {results['peer'][0]['params_by_part']}",
                  flush=True)
            if counts["sslzoo"] != counts["peer"]:
                raise SystemExit("the two sides do not build the same architecture (parameter counts differ)")

    med = {side: statistics.median(o["clips_per_s"] for o in results[side]) for side in results}
    round_ratios = [s["clips_per_s"] / q["clips_per_s"] for s, q in zip(results["sslzoo"], results["peer"])]
    summary = {"batch": a.batch, "threads": a.threads, "runs": a.runs, "jit_compile": a.jit_compile,
               "trainable_params": results["sslzoo"][0]["trainable_params"],
               "sslzoo_clips_per_s": [o["clips_per_s"] for o in results["sslzoo"]],
               "peer_clips_per_s": [round(o["clips_per_s"], 2) for o in results["peer"]],
               "sslzoo_median": round(med["sslzoo"], 2), "peer_median": round(med["peer"], 2),
               "ratio_of_medians": round(med["sslzoo"] / med["peer"], 3),
               "median_round_ratio": round(statistics.median(round_ratios), 3),
               "load_range": [round(min(o["load_before"] for s in results.values() for o in s), 2),
                              round(max(o["load_before"] for s in results.values() for o in s), 2)]}
    print(f"median clips/s: sslzoo {med['sslzoo']:.2f}  peer {med['peer']:.2f}  ratio sslzoo/peer "
          f"{summary['ratio_of_medians']:.2f} (median of per-round ratios {summary['median_round_ratio']:.2f})")
    if not a.no_breakdown:
        for part in ("video", "audio"):
            summary[f"va_step_{part}_share"] = round(statistics.median(o[f"{part}_share"] for o in results["sslzoo"]), 3)
            summary[f"va_step_{part}_fwd_bwd_s"] = round(
                statistics.median(o[f"{part}_fwd_bwd_s"] for o in results["sslzoo"]), 4)
        summary["va_step_s"] = round(statistics.median(o["step_s"] for o in results["sslzoo"]), 4)
        full_cmd = [c if c != "va" else "mmv" for c in sslzoo]
        full = run_json(full_cmd, env)
        summary["mmv_step"] = {k: full[k] for k in ("step_s", "clips_per_s", "trainable_params", "video_fwd_bwd_s",
                                                    "video_share", "audio_fwd_bwd_s", "audio_share", "text_fwd_bwd_s",
                                                    "text_share", "load_average")}
        print(f"sslzoo va step {summary['va_step_s']:.4f} s: video enc+head fwd/bwd "
              f"{summary['va_step_video_fwd_bwd_s']:.4f} s ({summary['va_step_video_share']:.0%}), audio "
              f"{summary['va_step_audio_fwd_bwd_s']:.4f} s ({summary['va_step_audio_share']:.0%}), rest (loss, Adam, "
              f"overhead) {1 - summary['va_step_video_share'] - summary['va_step_audio_share']:.0%}")
        print(f"sslzoo full MMV step (+ text, MIL-NCE; one run): {full['step_s']:.4f} s = {full['clips_per_s']} clips/s; "
              f"video {full['video_share']:.0%}, audio {full['audio_share']:.0%}, text {full['text_share']:.0%}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
