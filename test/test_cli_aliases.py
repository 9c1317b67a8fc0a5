# SPDX-License-Identifier: Apache-2.0
"""The old `acnn` command names still run the renamed commands and print one line naming them."""
from acnn_ros.cli import build_parser, DEPRECATED_ALIASES, main as acnn, SUBCOMMANDS


def test_old_names_map_to_the_renamed_commands():
    assert DEPRECATED_ALIASES == {'evaluate': 'eval-checkpoint', 'eval-bag': 'eval-recording'}
    parser = build_parser()
    for old, new in DEPRECATED_ALIASES.items():
        assert old not in SUBCOMMANDS and new in SUBCOMMANDS
        old_args = parser.parse_args([old] + _minimal_args(old))
        new_args = parser.parse_args([new] + _minimal_args(old))
        assert getattr(old_args, 'run', None) is getattr(new_args, 'run', None)
    listed = [line.split()[0] for line in parser.format_help().splitlines()
              if line.startswith('    ') and not line.startswith('     ')]
    assert 'eval-checkpoint' in listed and 'eval-recording' in listed
    assert 'eval-bag' not in listed and 'evaluate' not in listed


def _minimal_args(old):
    if old == 'evaluate':
        return ['checkpoint.pt', 'data_dir']
    return ['--model', 'm.onnx', '--bag', 'b', '--out', 'o']


def test_old_name_prints_one_line_naming_the_new_command(tmp_path, capsys):
    missing = tmp_path / 'nobag'
    assert acnn(['eval-bag', '--model', str(tmp_path / 'm.onnx'), '--bag', str(missing),
                 '--out', str(tmp_path / 'out')]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == 'acnn eval-bag is deprecated: use acnn eval-recording'
    assert acnn(['eval-recording', '--model', str(tmp_path / 'm.onnx'), '--bag', str(missing),
                 '--out', str(tmp_path / 'out')]) == 2
    assert 'deprecated' not in capsys.readouterr().err
