"""Runs digits presets over several seeds and writes the mean +- std table into docs/RESULTS.md.

One command regenerates the table (runs whatever is missing, then rewrites the block between
the `seeds:begin` / `seeds:end` markers):

    python bench/digits_seeds.py                      # every image *_digits preset, seeds 0, 1, 2
    python bench/digits_seeds.py --presets=byol_digits,dino_digits --seeds=0,1,2
    python bench/digits_seeds.py --table_only         # rewrite the table from the runs on disk

A preset none of whose runs is on disk keeps its row as the table last had it.

Each run is the preset's default command, `sslzoo-train --preset=P --seed=S`, one at a time
(the machine's cores are shared by nothing else), in `--runs_dir/P/seed_S`. A run whose
`report.json` exists is not repeated. The table reads, per preset: the linear probe on the
validation split (3,500 / 500 of the 4,000 training digits, what the presets were chosen on),
the linear probe and kNN on the test split (read once, after training), the training time
and the whole command's time (training, evaluation, plots, export).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "docs", "RESULTS.md")
IMAGE_PRESETS = ("simclr_digits", "moco_v2_digits", "moco_v3_digits", "barlow_twins_digits", "swav_digits",
                 "byol_digits", "simsiam_digits", "vicreg_digits", "dino_digits")
TARGET = 0.975


def run_one(preset, seed, run_dir, extra_args):
    """Trains, evaluates and exports one preset/seed; records the command's wall time."""
    report = os.path.join(run_dir, "report.json")
    if os.path.isfile(report):
        return
    os.makedirs(run_dir, exist_ok=True)
    command = [sys.executable, "-m", "sslzoo.train.pretrain", f"--preset={preset}", f"--seed={seed}",
               f"--model_dir={run_dir}", "--verbose=2", *extra_args]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(os.path.join(run_dir, "stdout.log"), "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.join(HERE, ".."))
    wall = time.perf_counter() - start
    if result.returncode != 0:
        print(f"  {preset} seed {seed} failed (exit {result.returncode}); see {run_dir}/stdout.log", flush=True)
        return
    with open(os.path.join(run_dir, "wall_seconds.json"), "w") as f:
        json.dump({"wall_seconds": round(wall, 1), "args": extra_args}, f)
    with open(report) as f:
        metrics = json.load(f)
    print(f"  {preset} seed {seed}: validation linear {metrics['validation']['linear_probe_top1']:.3f}, "
          f"test linear {metrics['test']['linear_probe_top1']:.3f}, kNN {metrics['test']['knn_top1']:.3f}, "
          f"train {metrics['train_seconds']:.0f} s, total {wall:.0f} s", flush=True)


def _load(run_dir):
    try:
        with open(os.path.join(run_dir, "report.json")) as f:
            report = json.load(f)
        with open(os.path.join(run_dir, "wall_seconds.json")) as f:
            wall = json.load(f)["wall_seconds"]
    except (OSError, ValueError, KeyError):
        return None
    return {"validation": report["validation"]["linear_probe_top1"], "linear": report["test"]["linear_probe_top1"],
            "knn": report["test"]["knn_top1"], "train": report["train_seconds"], "total": wall}


def _mean_std(values, digits):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _read_block(path, block):
    """(document, head, body, tail) of `path` split at the `block` markers; head, body and
    tail are None when the file or a marker is absent (document "" when the file is)."""
    document = ""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            document = f.read()
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    if begin not in document or end not in document:
        return document, None, None, None
    head, rest = document.split(begin, 1)
    body, tail = rest.split(end, 1)
    return document, head, body, tail


def _block_rows(path, block="seeds"):
    """{preset: row} of the table now in `path`'s block (empty when absent)."""
    body = _read_block(path, block)[2]
    rows = body.strip().splitlines()[2:] if body is not None else []
    return {row.split("|")[1].strip(): row for row in rows if row.startswith("|")}


def table(presets, seeds, runs_dir, previous_rows=None):
    """Markdown table: one row per preset, mean ± sample std over the seeds found on disk.

    A preset with no run on disk keeps its row from `previous_rows` ({preset: row}, the
    table as last written), so re-running some presets does not drop the others.
    """
    previous_rows = previous_rows or {}
    lines = ["| preset | seeds | validation linear | test linear | test kNN | per-seed test linear | "
             "train (s) | total (s) | ≥ 0.975 |",
             "|---|---|---:|---:|---:|---|---:|---:|---|"]
    for preset in presets:
        found = {s: _load(os.path.join(runs_dir, preset, f"seed_{s}")) for s in seeds}
        found = {s: r for s, r in found.items() if r is not None}
        if not found:
            if preset in previous_rows:
                lines.append(previous_rows[preset])
            continue
        column = {key: [r[key] for r in found.values()] for key in ("validation", "linear", "knn", "train", "total")}
        mean = statistics.mean(column["linear"])
        std = statistics.stdev(column["linear"]) if len(found) > 1 else float("nan")
        meets = "yes" if mean >= TARGET and len(found) >= 3 and std <= 0.005 else "no"
        lines.append(f"| {preset} | {','.join(map(str, found))} | {_mean_std(column['validation'], 3)} | "
                     f"**{_mean_std(column['linear'], 3)}** | {_mean_std(column['knn'], 3)} | "
                     f"{' / '.join(f'{v:.3f}' for v in column['linear'])} | {_mean_std(column['train'], 0)} | "
                     f"{_mean_std(column['total'], 0)} | {meets} |")
    return "\n".join(lines)


def plot_probe_curves(presets, seeds, runs_dir, path):
    """Online probe (ridge on the validation split, each epoch) per preset, one line per seed."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for index, preset in enumerate(presets):
        colour = f"C{index}"
        for number, seed in enumerate(seeds):
            history = os.path.join(runs_dir, preset, f"seed_{seed}", "history.csv")
            if not os.path.isfile(history):
                continue
            with open(history) as f:
                rows = [row for row in csv.DictReader(f) if row.get("probe_top1") not in (None, "", "NA")]
            axis.plot([int(r["epoch"]) + 1 for r in rows], [float(r["probe_top1"]) for r in rows], color=colour,
                      alpha=0.8, linewidth=1.2, label=preset if number == 0 else None)
    axis.axhline(TARGET, color="grey", linestyle="--", linewidth=0.8)
    axis.set(xlabel="epoch", ylabel="online probe top-1 (validation)", ylim=(0.5, 1.0),
             title="Digits presets: online probe per epoch, every seed")
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_table(text, path=RESULTS, block="seeds", heading="Three seeds per digits preset"):
    """Replaces the block between `<!-- {block}:begin -->` and `<!-- {block}:end -->` in `path`
    (appended under `heading` when absent)."""
    document, head, _, tail = _read_block(path, block)
    text = f"<!-- {block}:begin -->\n{text}\n<!-- {block}:end -->"
    if head is not None:
        document = head + text + tail
    else:
        document = document.rstrip("\n") + f"\n\n## {heading}\n\n" + text + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(document)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(IMAGE_PRESETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--runs_dir", default=os.path.join(HERE, "..", "runs", "seeds"))
    parser.add_argument("--table_only", action="store_true", help="Do not train; rewrite the table.")
    parser.add_argument("--extra", default="", help="More sslzoo-train flags, space-separated.")
    parser.add_argument("--plot", default=None, help="Also write the online-probe curves to this PNG.")
    parser.add_argument("--results", default=RESULTS, help="Markdown file whose seeds block is rewritten "
                        "(tuning runs: a scratch file).")
    args = parser.parse_args()
    presets = [p for p in args.presets.split(",") if p]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not args.table_only:
        for preset in presets:
            for seed in seeds:
                run_one(preset, seed, os.path.join(args.runs_dir, preset, f"seed_{seed}"), args.extra.split())
    text = table(presets, seeds, args.runs_dir, previous_rows=_block_rows(args.results))
    print(text)
    write_table(text, args.results)
    if args.plot:
        plot_probe_curves(presets, seeds, args.runs_dir, args.plot)


if __name__ == "__main__":
    main()
