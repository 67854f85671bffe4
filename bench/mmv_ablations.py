"""MMV design ablations on AV-digits, as the MMV paper's tables: FAC vs shared vs disjoint
heads, and FAC with modality dropout, each trained by `sslzoo-train --preset=mmv_avdigits`
with one change and evaluated on the VALIDATION split (a design comparison, not the
reported test number). Writes the table into docs/RESULTS.md (`mmv-ablations` block).

    python bench/mmv_ablations.py                   # every variant, the preset's schedule
    python bench/mmv_ablations.py --epochs=5        # a shorter common schedule for all variants
    python bench/mmv_ablations.py --table_only
"""
import argparse
import json
import os
import subprocess
import sys
import time

from digits_seeds import RESULTS, write_table

HERE = os.path.dirname(os.path.abspath(__file__))
# Each variant: preset fields it changes (objective_args entries are merged into the preset's).
VARIANTS = {
    "fac": {},
    "shared": {"objective_args": {"heads": "shared"}},
    "disjoint": {"objective_args": {"heads": "disjoint"}},
    "fac_dropout": {"objective_args": {"audio_dropout": 0.25, "text_dropout": 0.25}},
    "fac_no_augment": {"augment": None},
}
COLUMNS = (
    ("text→video R@1", ("retrieval", "text_to_video", "r1")),
    ("audio→video R@1", ("retrieval", "audio_to_video", "r1")),
    ("video→text R@1", ("retrieval", "video_to_text", "r1")),
    ("video probe", ("video_linear_probe_top1",)),
    ("audio probe", ("audio_linear_probe_top1",)),
    ("audio mAP", ("audio_linear_probe_map",)),
    ("zero-shot video", ("zero_shot_video_top1",)),
    ("zero-shot audio (no video)", ("missing_modality", "no_video", "zero_shot_audio_top1")),
)


def run_variant(name, change, run_dir, epochs):
    if os.path.isfile(os.path.join(run_dir, "report.json")):
        return
    os.makedirs(run_dir, exist_ok=True)
    from sslzoo.models import presets

    preset = presets.get("mmv_avdigits")
    override = {**change, "eval_split": "validation"}
    if "objective_args" in change:
        override["objective_args"] = {**preset["objective_args"], **change["objective_args"]}
    command = [sys.executable, "-m", "sslzoo.train.pretrain", "--preset=mmv_avdigits", f"--model_dir={run_dir}",
               f"--override={json.dumps(override)}", "--verbose=2", "--export_formats=saved_model"]
    if epochs:
        command.append(f"--epochs={epochs}")
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(os.path.join(run_dir, "stdout.log"), "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.join(HERE, ".."))
    if result.returncode != 0:
        print(f"  {name} failed (exit {result.returncode}); see {run_dir}/stdout.log", flush=True)
        return
    with open(os.path.join(run_dir, "wall_seconds.json"), "w") as f:
        json.dump({"wall_seconds": round(time.perf_counter() - start, 1)}, f)


def _get(report, path):
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def _describe(change):
    """'heads shared', 'audio_dropout 0.25, text_dropout 0.25', 'no augment'."""
    parts = [f"{k} {v}" for k, v in change.get("objective_args", {}).items()]
    parts += [f"no {k}" if v is None else f"{k} {v}" for k, v in change.items() if k != "objective_args"]
    return ", ".join(parts)


def table(runs_dir):
    lines = ["| variant | " + " | ".join(name for name, _ in COLUMNS) + " | train (s) |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for name, change in VARIANTS.items():
        path = os.path.join(runs_dir, name, "report.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            report = json.load(f)
        values = [_get(report, p) for _, p in COLUMNS]
        cells = ["—" if v is None else f"{v:.3f}" for v in values]
        label = name + (f" ({_describe(change)})" if change else " (the preset)")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {report['train_seconds']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=None, help="Common schedule (default: the preset's).")
    parser.add_argument("--runs_dir", default=os.path.join(HERE, "..", "runs", "mmv_ablations"))
    parser.add_argument("--table_only", action="store_true")
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()
    if not args.table_only:
        for name in args.variants.split(","):
            run_variant(name, VARIANTS[name], os.path.join(args.runs_dir, name), args.epochs)
    text = table(args.runs_dir)
    print(text)
    write_table(text, args.results, block="mmv-ablations", heading="MMV ablations (AV-digits, validation split)")


if __name__ == "__main__":
    main()
