# SPDX-License-Identifier: Apache-2.0
"""The acnn command: every sub-command loads and explains itself."""
import importlib
import subprocess
import sys

from acnn_ros.cli import main, SUBCOMMANDS
import pytest


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as stop:
        main(['--help'])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize('name', sorted(SUBCOMMANDS))
def test_every_subcommand_imports_and_has_help(name, capsys):
    module = importlib.import_module(SUBCOMMANDS[name][0])
    assert callable(module.add_arguments) and callable(module.run)
    with pytest.raises(SystemExit) as stop:
        main([name, '--help'])
    assert stop.value.code == 0, capsys.readouterr().err
    assert f'usage: acnn {name}' in capsys.readouterr().out


def test_missing_subcommand_is_a_usage_error():
    done = subprocess.run([sys.executable, '-m', 'acnn_ros.cli'], capture_output=True, text=True)
    assert done.returncode == 2
    assert 'COMMAND' in done.stderr
