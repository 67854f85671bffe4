#!/usr/bin/env python3
"""Scaling of SimCLR's train step from 1 process to 2 localhost workers.

ResNet-18 (CIFAR stem) at 32x32, random views, the same global batch both ways:
  single   one process pinned to one core (TensorFlow pools of 1 thread);
  workers  2 processes under MultiWorkerMirroredStrategy (TF_CONFIG with
           127.0.0.1 ports), each pinned to its own core, 1 thread each,
           so each computes half the global batch.
Scaling efficiency = step time of one process / (2 x step time of 2 workers)
(1.0: the second core halves the step; the rest is collective communication
and the synchronisation of the two processes). Prints JSON lines; the last
is the summary.

    python bench/multi_worker.py --batch 64 --steps 5
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(args):
    """One process: pin to `args.core`, train `args.steps` timed steps, print seconds per step."""
    os.sched_setaffinity(0, {args.core})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, HERE)
    from train_step import StepClock, build

    from sslzoo import distribute

    strategy = distribute.strategy("auto")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build("simclr", args.size)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    rng = np.random.default_rng(0)
    views = tuple(rng.random((args.batch, args.size, args.size, 3), dtype=np.float32) for _ in range(2))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensors(views).repeat().with_options(options)
    # One fit: the clock starts after the warm-up steps (a second fit would pay for a new iterator).
    clock = StepClock(first=args.warmup)
    model.fit(data, epochs=1, steps_per_epoch=args.warmup + args.steps, verbose=0, shuffle=False,
              callbacks=[clock])
    step_s = (clock.end - clock.start) / args.steps
    print(json.dumps({"line": distribute.describe(strategy, args.batch), "core": args.core,
                      "step_s": step_s}), flush=True)


def launch(args, workers):
    """Runs 1 plain process (workers=0) or `workers` MWMS workers; returns their JSON results."""
    from sslzoo import distribute

    base = [sys.executable, os.path.abspath(__file__), "--role", "worker", "--batch", str(args.batch),
            "--size", str(args.size), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    if not workers:
        commands = [(base + ["--core", "0"], env)]
    else:
        addresses = [f"127.0.0.1:{port}" for port in distribute.free_local_ports(workers)]
        commands = []
        for index in range(workers):
            config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            commands.append((base + ["--core", str(index)], dict(env, TF_CONFIG=json.dumps(config))))
    processes = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c, e in commands]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=args.timeout)
        if process.returncode:
            raise RuntimeError(f"worker failed ({process.returncode}):\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="launcher", choices=["launcher", "worker"])
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="alternating single/workers rounds")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per process")
    args = parser.parse_args()
    if args.role == "worker":
        return worker(args)
    rounds = []
    for _ in range(args.repeats):
        single = launch(args, workers=0)[0]
        pair = launch(args, workers=2)
        multi_s = max(r["step_s"] for r in pair)
        rounds.append({"single_step_s": single["step_s"], "workers_step_s": multi_s,
                       "efficiency": single["step_s"] / (2 * multi_s), "load": os.getloadavg()[0]})
        print(json.dumps({"what": "multi_worker_round", **rounds[-1], "workers": [r["line"] for r in pair]}),
              flush=True)
    efficiencies = sorted(r["efficiency"] for r in rounds)
    print(json.dumps({"what": "multi_worker", "batch": args.batch, "size": args.size,
                      "single_images_per_s": 2 * args.batch / rounds[-1]["single_step_s"],
                      "workers_images_per_s": 2 * args.batch / rounds[-1]["workers_step_s"],
                      "median_efficiency": efficiencies[len(efficiencies) // 2]}))


if __name__ == "__main__":
    main()
