"""The same per-video conversion as an Apache Beam pipeline (DirectRunner here; Dataflow,
Flink or Spark at scale), as tensorflow-datasets does for its large datasets.

Each video (all its clips) is one element; `ConvertVideo` decodes it with PyAV and
emits serialized SequenceExamples keyed by subset, and failures to a side output.
Beam's `WriteToTFRecord` writes `OUTPUT/<subset>-00000-of-0000N`, the same names
and format as the process path. Needs the optional `apache-beam` package.
"""
import collections
import json
import os

from sslzoo.data.prepare.convert import clip_from_media
from sslzoo.data.prepare.errors import MediaError
from sslzoo.data.prepare.media import find_media

RUNNERS = {"direct": "DirectRunner", "dataflow": "DataflowRunner", "flink": "FlinkRunner", "spark": "SparkRunner",
           "prism": "PrismRunner"}


def _beam():
    try:
        import apache_beam
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ImportError("the Beam path needs apache-beam: pip install 'sslzoo[beam]'") from e
    return apache_beam


def convert_video(clips, options):
    """One video's ClipSpecs -> (examples [(subset, serialized)], failures [dict], media seconds)."""
    from sslzoo.data.av.example import clip_to_example

    examples, failures, seconds = [], [], 0.0
    try:
        path = clips[0].media_path or find_media(options["media_dir"], clips[0].video_id, options.get("path_template"))
    except MediaError as e:
        path, missing = None, e
    for spec in clips:
        try:
            if path is None:
                raise missing
            clip, length = clip_from_media(spec, path, options["fps"], options["short_side"], options["sample_rate"])
        except MediaError as e:
            if options.get("strict"):
                raise MediaError(f"{spec.video_id}: {e}") from e
            failures.append({"video_id": spec.video_id, "path": path, "start": spec.start, "end": spec.end,
                             "reason": str(e)})
            continue
        examples.append((spec.subset, clip_to_example(clip).SerializeToString()))
        seconds += length
    return examples, failures, seconds


def run_beam(specs, output_dir, media_dir=".", num_shards=1, fps=10, short_side=256, sample_rate=48000,
             strict=False, path_template=None, runner="direct", pipeline_args=(), name="prepare"):
    """Converts ClipSpecs with a Beam pipeline; writes and returns the report (as `prepare`)."""
    beam = _beam()
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    options = dict(media_dir=media_dir, fps=fps, short_side=short_side, sample_rate=sample_rate, strict=strict,
                   path_template=path_template)
    videos = collections.defaultdict(list)
    for spec in specs:
        videos[(spec.subset, spec.video_id)].append(spec)
    subsets = sorted({subset for subset, _ in videos})
    os.makedirs(output_dir, exist_ok=True)
    failures_prefix = os.path.join(output_dir, ".prepare", "beam_failures")

    class ConvertVideo(beam.DoFn):
        def __init__(self):
            self.clips = Metrics.counter(name, "clips")
            self.milliseconds = Metrics.counter(name, "media_milliseconds")

        def process(self, clips):
            examples, failures, seconds = convert_video(clips, options)
            self.clips.inc(len(examples))
            self.milliseconds.inc(int(round(seconds * 1000)))
            for example in examples:
                yield example
            for failure in failures:
                yield beam.pvalue.TaggedOutput("failed", json.dumps(failure))

    pipeline = beam.Pipeline(runner=RUNNERS.get(runner, runner), options=PipelineOptions(list(pipeline_args)))
    converted = (pipeline
                 | "Videos" >> beam.Create([videos[key] for key in sorted(videos)])
                 | "Convert" >> beam.ParDo(ConvertVideo()).with_outputs("failed", main="examples"))
    for subset in subsets:
        (converted.examples
         | f"Select {subset}" >> beam.Filter(lambda item, wanted=subset: item[0] == wanted)
         | f"Records {subset}" >> beam.Map(lambda item: item[1])
         | f"Write {subset}" >> beam.io.WriteToTFRecord(os.path.join(output_dir, subset),
                                                        num_shards=max(1, min(num_shards, len(videos))),
                                                        shard_name_template="-SSSSS-of-NNNNN"))
    converted.failed | "Failures" >> beam.io.WriteToText(failures_prefix, file_name_suffix=".jsonl",
                                                         shard_name_template="")
    result = pipeline.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    failed = []
    if os.path.exists(failures_prefix + ".jsonl"):
        with open(failures_prefix + ".jsonl") as f:
            failed = [json.loads(line) for line in f if line.strip()]
    report = {"name": name, "runner": RUNNERS.get(runner, runner), "clips": counters.get("clips", 0),
              "videos": len(videos), "media_seconds": counters.get("media_milliseconds", 0) / 1000,
              "failed_count": len(failed), "failed": sorted(failed, key=lambda f: (f["video_id"], f["start"]))}
    with open(os.path.join(output_dir, "prepare_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report
