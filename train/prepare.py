"""sslzoo-prepare: media already on disk + annotations -> DMVR shards for `read_clips`.

    sslzoo-prepare howto100m --media_dir=videos --annotations=caption.json,HowTo100M_v1.csv --output=data/h100m
    sslzoo-prepare youcook2  --media_dir=videos --annotations=youcookii_annotations_trainval.json --output=data/yc2
    sslzoo-prepare coin      --media_dir=videos --annotations=COIN.json --output=data/coin
    sslzoo-prepare audioset  --media_dir=clips --annotations=balanced_train_segments.csv,class_labels_indices.csv \\
                             --output=data/audioset
    sslzoo-prepare csv       --annotations=clips.csv --output=data/mine        # video_path,start,end[,label,caption]
    sslzoo-prepare avdigits  --output=data/avdigits [--seed=0]                 # the bundled synthetic set

Media are found by id with any common extension (mp4, mkv, webm, avi, mov, m4a,
wav, flac, mp3) or by --path_template ("{media_dir}/{id}.mp4"). Frames are
decoded at --fps with the short side --short_side, audio as mono float32 at
--sample_rate. Shards are `OUTPUT/<subset>-00000-of-0000N`; work runs in
--workers processes and a rerun keeps the shards already complete. A missing,
truncated or undecodable file is skipped and named, with the reason, in
`OUTPUT/prepare_report.json` (--strict stops on the first, exit status 1). A
malformed annotation file stops the run with a message naming the file, the
record and the field (exit status 2).

--runner=direct (or dataflow, flink, spark with --beam_options) runs the same
per-video conversion as an Apache Beam pipeline instead of local processes
(optional extra: pip install 'sslzoo[beam]'); Beam has no resume: rerun whole.
"""
import json
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("media_dir", ".", "Folder holding the media files.")
flags.DEFINE_list("annotations", [], "Annotation file(s), comma-separated.")
flags.DEFINE_string("output", None, "Output folder for the shards and prepare_report.json.", required=True)
flags.DEFINE_integer("shards", 16, "Shards per subset (at most one per video).")
flags.DEFINE_float("fps", 10.0, "Frames per second to decode.")
flags.DEFINE_integer("short_side", 256, "Resize frames so the short side has this many pixels.")
flags.DEFINE_integer("sample_rate", 48000, "Audio sample rate (mono float32).")
flags.DEFINE_string("path_template", None, 'Media path from the id, e.g. "{media_dir}/{id}.mp4".')
flags.DEFINE_integer("workers", max(1, (os.cpu_count() or 1)), "Parallel processes.")
flags.DEFINE_bool("strict", False, "Stop at the first bad media file (exit status 1).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_integer("seed", 0, "avdigits: generation seed.")
flags.DEFINE_string("runner", "processes", "processes (local, resumable), or an Apache Beam runner: direct, "
                    "dataflow, flink, spark, prism or a runner class name (needs sslzoo[beam]).")
flags.DEFINE_list("beam_options", [], "Beam pipeline options, e.g. --beam_options=--project=P,--region=R.")

COMMANDS = ("howto100m", "youcook2", "coin", "audioset", "csv", "avdigits")


def prepare_avdigits():
    from sslzoo.data.av_digits import write_av_digits

    written = write_av_digits(FLAGS.output, seed=FLAGS.seed)
    report = {"name": "avdigits", "seed": FLAGS.seed, "shards": {s: len(p) for s, p in written.items()}}
    with open(os.path.join(FLAGS.output, "prepare_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def prepare_media(command):
    from sslzoo.data import prepare as library

    if not FLAGS.annotations:
        raise app.UsageError(f"{command}: --annotations is required")
    for path in FLAGS.annotations:
        if not os.path.isfile(path):
            raise app.UsageError(f"--annotations: no such file {path!r}")
    parse = library.PARSERS[command]
    specs = parse(FLAGS.annotations, FLAGS.media_dir) if command == "csv" else parse(FLAGS.annotations)
    if FLAGS.runner != "processes":
        from sslzoo.data.prepare.beam_pipeline import run_beam

        return run_beam(specs, FLAGS.output, media_dir=FLAGS.media_dir, num_shards=FLAGS.shards, fps=FLAGS.fps,
                        short_side=FLAGS.short_side, sample_rate=FLAGS.sample_rate, strict=FLAGS.strict,
                        path_template=FLAGS.path_template, runner=FLAGS.runner, pipeline_args=FLAGS.beam_options,
                        name=command)
    return library.prepare(specs, FLAGS.output, media_dir=FLAGS.media_dir, num_shards=FLAGS.shards, fps=FLAGS.fps,
                           short_side=FLAGS.short_side, sample_rate=FLAGS.sample_rate, workers=FLAGS.workers,
                           strict=FLAGS.strict, path_template=FLAGS.path_template, progress=FLAGS.progress,
                           name=command)


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"usage: sslzoo-prepare {{{','.join(COMMANDS)}}} --output=DIR [flags]; got {argv[1:]}")
    from sslzoo.data.prepare import AnnotationError, MediaError

    command = argv[1]
    try:
        report = prepare_avdigits() if command == "avdigits" else prepare_media(command)
    except AnnotationError as e:
        print(f"sslzoo-prepare: malformed annotations: {e}", file=sys.stderr)
        sys.exit(2)
    except MediaError as e:
        print(f"sslzoo-prepare: --strict: {e}", file=sys.stderr)
        sys.exit(1)
    summary = {k: v for k, v in report.items() if k != "failed"}
    print(json.dumps(summary, indent=2))


def run():
    """Console-script entry point (`sslzoo-prepare`)."""
    from sslzoo.train import cli

    cli.run_program(main, __name__, "sslzoo-prepare")


if __name__ == "__main__":
    run()
