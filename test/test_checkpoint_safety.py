# SPDX-License-Identifier: Apache-2.0
"""Checkpoints are read weights-only: a foreign file is refused with one line and exit 2."""
import os
import pickle

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, generate_dataset, render_frame
from acnn_ros.model.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint
from acnn_ros.model.dataset import FrameSet
from acnn_ros.model.train import train, TrainConfig
import numpy as np
import pytest
import torch


class _RunsCode:
    """Unpickling this runs a shell command (what a hostile .pt can do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _hostile(path, marker, protocol=None):
    """Write a .pt that runs `touch marker` when unpickled (protocol None: torch.save's zip)."""
    state = {'format': CHECKPOINT_FORMAT, 'payload': _RunsCode(marker)}
    if protocol is None:
        torch.save(state, path)         # torch's own zip format, a pickle inside
    else:
        path.write_bytes(pickle.dumps(state, protocol=protocol))
    return path


def _assert_one_line_error(capsys, path, *words):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith('error: ') and str(path) in lines[0], lines
    assert 'expected a last.pt or best.pt of `acnn train`' in lines[0], lines
    assert 'Traceback' not in captured.err + captured.out
    for word in words:
        assert word in lines[0], lines


@pytest.mark.parametrize('protocol, reason', [
    (None, 'posix.system'), (2, 'posix.system'), (4, 'not a PyTorch file of tensors')])
def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path, capsys, protocol, reason):
    marker = tmp_path / 'marker'
    evil = _hostile(tmp_path / 'last.pt', marker, protocol)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(evil)
    assert acnn(['export', str(evil), str(tmp_path / 'm.onnx')]) == 2
    _assert_one_line_error(capsys, evil, reason)
    assert not marker.exists()
    assert not (tmp_path / 'm.onnx').exists()


def test_foreign_files_exit_2_with_one_line_naming_the_file(tmp_path, capsys):
    text = tmp_path / 'notes.pt'
    text.write_text('not a checkpoint\n')
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'\x08\x07\x12\x07pytorch\x1a\x032.1:\x9a\x01\n\x05image')
    empty = tmp_path / 'empty.pt'
    empty.write_bytes(b'')
    tensor = tmp_path / 'tensor.pt'
    torch.save(torch.zeros(3), tensor)
    other = tmp_path / 'other.pt'
    torch.save({'format': 'someone-else/1', 'model': {}}, other)
    partial = tmp_path / 'partial.pt'
    torch.save({'format': CHECKPOINT_FORMAT, 'model': {}}, partial)
    cases = {text: 'not a PyTorch file', onnx: 'not a PyTorch file',
             empty: 'not a PyTorch file', tensor: 'holds a Tensor, not a dict',
             other: "format is 'someone-else/1'", partial: 'lacks train_config'}
    for path, reason in cases.items():
        assert acnn(['export', str(path), str(tmp_path / 'out.onnx')]) == 2, path
        _assert_one_line_error(capsys, path, reason)
    assert acnn(['eval-checkpoint', str(text), str(tmp_path / 'no_dataset')]) == 2
    _assert_one_line_error(capsys, text, 'not a PyTorch file')


@pytest.mark.timeout(120)
def test_train_resume_refuses_a_hostile_last_pt(tmp_path, capsys):
    data = tmp_path / 'ds'
    generate_dataset(data, 4, 4, seed=3)
    run = tmp_path / 'run'
    run.mkdir()
    marker = tmp_path / 'marker'
    evil = _hostile(run / 'last.pt', marker)
    assert acnn(['train', str(data), '--out', str(run), '--resume', '--epochs', '1',
                 '--no-progress']) == 2
    err = capsys.readouterr().err
    assert f'{evil} is not an acnn_ros checkpoint' in err and 'Traceback' not in err, err
    assert not marker.exists()


@pytest.mark.timeout(180)
def test_real_checkpoints_load_weights_only_and_export(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images, boxes = [], []
    for k in range(8):
        bgr, box = render_frame(rng, k % 4)
        images.append(bgr[:, :, ::-1])
        boxes.append((box.center_x / 640, box.center_y / 480, box.width / 640,
                      box.height / 480))
    frames = FrameSet(images=np.stack(images), labels=np.arange(8) % 4,
                      boxes=np.array(boxes, np.float32), has_box=np.ones(8, bool), paths=[],
                      class_names=list(DEFAULT_CLASSES))
    config = TrainConfig(variant='opt', epochs=1, batch_size=4, augment=False, seed=0,
                         val_fraction=0.5, val_block=1)
    train(config, frames, None, tmp_path, log=lambda _: None, progress=False)
    for name in ('last.pt', 'best.pt'):
        # What load_checkpoint does, spelled out: the real files are plain data.
        state = torch.load(tmp_path / name, map_location='cpu', weights_only=True)
        assert state['format'] == CHECKPOINT_FORMAT
        assert load_checkpoint(tmp_path / name)['class_names'] == list(DEFAULT_CLASSES)
    assert 'optimizer' in load_checkpoint(tmp_path / 'last.pt')
    assert acnn(['export', str(tmp_path / 'best.pt'), str(tmp_path / 'm.onnx')]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / 'm.onnx').is_file()
