# SPDX-License-Identifier: Apache-2.0
"""
No false reject at start (issue 19, item 6): the first parts after a start are not DROPPED.

The first image a process (de)serializes made rosbags generate its CDR code (~65-80 ms on 2
cores): camera_node's part 1 left together with part 2, and inference_node's first received
image held its executor while the next ones queued, so they reached the newest-frame slot
together and all but one were answered DROPPED (3 or 4 of the first 10 parts at 30 Hz, every
start). Both nodes now pay that cost at configure (InspectionPipeline.warmup, camera_node's
serializer warm-up). Real processes: the benchmark's own command,
`python -m benchmarks.startup_drops_benchmark`, in a process of its own.
"""
import json
import subprocess
import sys

from contract_model import export_contract_model
import pytest
from ros_processes import REPO_DIR

pytestmark = pytest.mark.timeout(120)


def test_starts_of_the_line_do_not_drop_their_first_parts(tmp_path):
    log, report = tmp_path / 'nodes.log', tmp_path / 'starts.json'
    run = subprocess.run(
        [sys.executable, '-m', 'benchmarks.startup_drops_benchmark', '--starts', '3',
         '--parts', '10', '--rate-hz', '30', '--log', str(log), '--json', str(report)],
        cwd=str(REPO_DIR), capture_output=True, text=True, timeout=110)
    assert report.is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(report.read_text())['after']
    seen = [r['reasons'] for r in results]
    assert len(results) == 3, run.stdout
    assert all(r['unobserved'] == 0 for r in results), (seen, log.read_text()[-3000:])
    # Before the fix every start dropped 2-4 of its first parts (20 of 20 starts, BENCHMARKS.md):
    # a regression shows in each start. One start of three dropping is a load spike on the
    # shared 2 cores (CI once: parts 5-7 of the second start, the first and third clean).
    dropping = [r['dropped'] for r in results if r['dropped']]
    assert len(dropping) <= 1, (seen, log.read_text()[-3000:])


def test_warmup_runs_the_engine_then_one_frame_through_the_received_image_path(
        tmp_path, monkeypatch):
    from acnn_ros.core.image_cdr import image_from_cdr
    from acnn_ros.runtime import pipeline as pipeline_module
    model = export_contract_model(tmp_path)
    deserialized = []

    def counting(raw, *msgtype):
        deserialized.append(len(raw))
        return image_from_cdr(raw, *msgtype)
    monkeypatch.setattr(pipeline_module, 'image_from_cdr', counting)
    cold = pipeline_module.InspectionPipeline.from_model_path(model, warmup_runs=0)
    assert cold.warmup_ms == () and deserialized == []
    assert 'warm-up' not in cold.provider_report
    warm = pipeline_module.InspectionPipeline.from_model_path(model, warmup_runs=2)
    # One CDR image at the model's input size went the way of a received image.
    assert deserialized == [pytest.approx(warm.card.input_width * warm.card.input_height * 3,
                                          abs=200)]
    assert len(warm.warmup_ms) == 3 and all(ms > 0 for ms in warm.warmup_ms)
    assert 'warm-up 2 engine runs + 1 frame path' in warm.provider_report
