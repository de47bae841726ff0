"""Experiment tracking: what a tracked run writes, read back with each tool's own reader."""

import glob
import json
import struct
import sys
from pathlib import Path

import pytest

from dqn_helpers import tracking
from dqn_helpers.run import run

from .conftest import ROOT

CI_SIZE = {"TOTAL_STEPS": 3_000}  # lab 02: learning from step 1,000, evaluations every 500


def test_tracking_off_does_nothing_and_bad_names_are_refused(tmp_path):
    tracker = tracking.start_tracking("off", "02/dqn/seed0", {"lr": 1.0}, tmp_path)
    tracker.scalar("x", 1.0, 1)
    tracker.video("agent", tmp_path / "missing.mp4", 1)
    tracker.model(tmp_path / "missing.pt")
    tracker.close()
    assert not tracker and list(tmp_path.iterdir()) == []
    assert not tracking.start_tracking(None, "02/dqn/seed0", {}, tmp_path)
    with pytest.raises(ValueError, match="TRACK must be one of off, tensorboard, wandb"):
        tracking.start_tracking("tensorbaord", "02/dqn/seed0", {}, tmp_path)


def test_a_missing_backend_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "dqn-helpers\[wandb\]"'):
        tracking.start_tracking("wandb", "02/dqn/seed0", {}, tmp_path)


def test_run_names_are_lab_variant_seed():
    assert tracking.run_name("06", "all three", 2) == "06/all-three/seed2"
    assert tracking.run_name("03", "hard", 0) == "03/hard/seed0"


def tracked_run(tmp_path, backend):
    out = run("02", seed=0, out=tmp_path / "run", params={**CI_SIZE, "TRACK": backend},
              root=ROOT)
    return out, json.loads((out / "metrics.json").read_text())


def expected_evaluations(metrics):
    last = metrics["steps_to_solve"] or metrics["env_steps"]
    return list(range(1_500, last + 1, 500))


def test_tensorboard_event_files_hold_the_run(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, metrics = tracked_run(tmp_path, "tensorboard")
    log_dir = out / "tensorboard" / "02" / "dqn" / "seed0"
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0,
                                                           "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/episode_return", "train/episode_length", "train/eps", "train/loss",
            "train/gradient_steps_per_second", "eval/mean_return"} <= set(tags["scalars"])
    returns = events.Scalars("train/episode_return")
    lengths = events.Scalars("train/episode_length")
    steps = [e.step for e in returns]
    assert steps == sorted(steps) and steps[-1] <= metrics["env_steps"]
    # an episode's return is its length on CartPole (+1 a step), and the lengths add up to the
    # step at which the last episode ended
    assert [e.value for e in returns] == [e.value for e in lengths]
    assert sum(e.value for e in lengths) == steps[-1]
    assert [e.step for e in events.Scalars("eval/mean_return")] == expected_evaluations(metrics)
    assert all(e.step > 1_000 for e in events.Scalars("train/loss"))  # learning starts at 1,000
    assert "agent" in tags["images"]  # the final video, as an animated GIF
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| lr | 0.0023 |" in config


def wandb_records(path):
    """The protobuf records of a W&B run file (a LevelDB-style log: 32 KiB blocks of records,
    each with a 7-byte header: checksum, length, type; a record may span blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    position, block, pending = 7, 32 * 1024, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # too little room left in this block for a header
            position += block - position % block
            continue
        length, kind = struct.unpack("<HB", data[position + 4:position + 7])
        chunk, position = data[position + 7:position + 7 + length], position + 7 + length
        if kind == 0 and length == 0:
            continue
        pending += chunk
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_wandb_offline_run_holds_the_keys_the_video_and_the_artifact(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    out, metrics = tracked_run(tmp_path, "wandb")
    [folder] = glob.glob(str(out / "wandb" / "offline-run-*"))  # offline: no key, no network
    records = list(wandb_records(next(Path(folder).glob("run-*.wandb"))))
    keys, evaluations, artifacts, names = set(), [], [], []
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = {item.key or item.nested_key[0]: item.value_json  # a video: agent/_type, ...
                   for item in record.history.item}
            keys |= set(row)
            if "eval/mean_return" in row:
                evaluations.append(int(json.loads(row["global_step"])))
        elif kind == "artifact":
            artifacts.append((record.artifact.name, record.artifact.type,
                              [entry.path for entry in record.artifact.manifest.contents]))
        elif kind == "run":
            names.append(record.run.display_name)
    assert {"train/episode_return", "train/episode_length", "train/eps", "train/loss",
            "train/gradient_steps_per_second", "eval/mean_return", "agent"} <= keys
    assert evaluations == expected_evaluations(metrics)
    assert names[0] == "02/dqn/seed0"
    assert ("q_network-02-dqn-seed0", "model", ["q_network.pt"]) in artifacts
    assert list(Path(folder).glob("files/media/videos/agent_*.mp4"))


def test_show_tensorboard_outside_a_notebook_says_what_to_run(capsys, tmp_path):
    tracking.show_tensorboard(tmp_path / "tensorboard")
    assert f"tensorboard --logdir {tmp_path / 'tensorboard'}" in capsys.readouterr().out


def test_show_tensorboard_starts_no_server_in_a_headless_run(capsys, tmp_path, monkeypatch):
    import IPython

    class Shell:
        def run_line_magic(self, *args):
            raise AssertionError("a headless run must not start TensorBoard")

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setenv("DQN_LABS_HEADLESS", "1")
    tracking.show_tensorboard(tmp_path)
    assert "tensorboard --logdir" in capsys.readouterr().out
