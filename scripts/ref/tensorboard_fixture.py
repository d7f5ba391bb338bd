#!/usr/bin/env python3
"""Known-good TensorBoard event records for recaux's hand-written writer (src/train/tensorboard.rs).

Two modes (run with the venv made by scripts/ref/setup-tb-venv.sh):

  .venv-tb/bin/python scripts/ref/tensorboard_fixture.py write
      Writes tests/fixtures/tensorboard/scalars.tfevents with TensorBoard's own code:
      `event_pb2.Event` / `summary_pb2.Summary` protobuf serialisation and
      `tensorboard.summary.writer.record_writer.RecordWriter` (TFRecord framing with
      TensorBoard's masked crc32c). The records are the file_version record and the scalar
      events listed in EVENTS below, with fixed wall times so the bytes are reproducible.
      (TensorBoard's EventFileWriter itself stamps the current time and a source_metadata
      field into its first record, so it cannot give a fixed file; RecordWriter is the layer
      it writes through.) Also writes scalars.json with the same values, for the README.

  .venv-tb/bin/python scripts/ref/tensorboard_fixture.py read DIR_OR_FILE
      Reads an event file written by recaux (for example the one `cargo test --test
      sinks_tensorboard` leaves in target/tmp/tb_roundtrip/) with TensorBoard's
      EventAccumulator and prints every scalar as `tag step wall_time value`.

cargo test never runs this script; the fixture it writes is committed.
"""

import json
import math
import os
import sys

FIXTURE_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "tensorboard"
)

# (wall_time seconds, step, tag, value). The value is stored as a protobuf float (f32).
# Chosen to exercise: step 0 and wall_time fractions (proto3 leaves zero fields out), a value of
# 0.0 (simple_value sits in a oneof, so it is written even when zero), a negative step (10-byte
# varint), a step above 2^32, a non-ASCII tag (length counted in UTF-8 bytes), a value that is
# not exactly representable in f32, a negative value, infinity and NaN.
VERSION_WALL_TIME = 1764290000.25
EVENTS = [
    (1764290001.5, 0, "train/loss", 2.302585092994046),
    (1764290002.75, 1, "train/loss", 1.75),
    (1764290003.125, 1, "val/accuracy", 0.0),
    (1764290004.0, -1, "neg/step", -3.5),
    (1764290005.0625, 5000000000, "big/step", 0.1),
    (1764290006.0, 7, "λ=0.1/test acc", 0.8125),
    (1764290007.0, 8, "train/inf", math.inf),
    (1764290008.0, 9, "train/nan", math.nan),
]


def write():
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter
    import tensorboard
    import google.protobuf

    os.makedirs(FIXTURE_DIR, exist_ok=True)
    path = os.path.join(FIXTURE_DIR, "scalars.tfevents")
    with open(path, "wb") as f:
        rw = RecordWriter(f)
        rw.write(
            event_pb2.Event(
                wall_time=VERSION_WALL_TIME, file_version="brain.Event:2"
            ).SerializeToString()
        )
        for wall_time, step, tag, value in EVENTS:
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]
            )
            ev = event_pb2.Event(wall_time=wall_time, step=step, summary=summary)
            rw.write(ev.SerializeToString())
        rw.flush()
    meta = {
        "made_by": "scripts/ref/tensorboard_fixture.py write",
        "tensorboard": tensorboard.__version__,
        "protobuf": google.protobuf.__version__,
        "python": sys.version.split()[0],
        "version_record": {"wall_time": VERSION_WALL_TIME, "file_version": "brain.Event:2"},
        "events": [
            {"wall_time": w, "step": s, "tag": t, "value": repr(v)} for (w, s, t, v) in EVENTS
        ],
    }
    with open(os.path.join(FIXTURE_DIR, "scalars.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes), "
          f"tensorboard {tensorboard.__version__}, protobuf {google.protobuf.__version__}")


def read(target):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(target, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    print(f"file_version: {acc.file_version}")
    print(f"scalar tags: {tags['scalars']}")
    for tag in tags["scalars"]:
        for ev in acc.Scalars(tag):
            print(f"{tag}\t{ev.step}\t{ev.wall_time:.6f}\t{ev.value!r}")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "write":
        write()
    elif len(sys.argv) == 3 and sys.argv[1] == "read":
        read(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
