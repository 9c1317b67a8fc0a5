# SPDX-License-Identifier: Apache-2.0
"""The linters a ROS 2 package runs: ament_flake8, ament_pep257 and licence headers."""
from pathlib import Path
import subprocess

import ament_flake8
from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
PYTHON_PATHS = ['acnn_ros', 'launch', 'test', 'setup.py', 'benchmarks']
LICENCE_TAG = 'SPDX-License-Identifier: Apache-2.0'


def _existing(paths):
    return [str(REPO_DIR / p) for p in paths if (REPO_DIR / p).exists()]


@pytest.mark.linter
def test_flake8(tmp_path):
    # ament_flake8's own configuration, run in this process only: flake8's worker pool forks,
    # and a fork of a test process whose earlier tests ran DDS threads can deadlock (seen:
    # test_flake8 hung for the whole timeout after test_one_process_line).
    ament = Path(ament_flake8.__file__).parent / 'configuration' / 'ament_flake8.ini'
    config = tmp_path / 'flake8.ini'
    config.write_text(ament.read_text(encoding='utf-8').rstrip('\n') + '\njobs = 1\n',
                      encoding='utf-8')
    rc, errors = flake8_main(argv=['--config', str(config), *_existing(PYTHON_PATHS)])
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    rc = pep257_main(argv=_existing(['acnn_ros', 'launch', 'benchmarks']))
    assert rc == 0, 'pep257 found docstring errors (see output above)'


@pytest.mark.linter
def test_every_source_file_has_the_licence_header():
    # The files git would commit: tracked ones and new ones that are not ignored.
    listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                            cwd=REPO_DIR, check=True, capture_output=True, text=True).stdout
    sources = [REPO_DIR / name for name in listed.splitlines()
               if (REPO_DIR / name).is_file()
               and (name.endswith(('.py', '.sh')) or name.startswith('.ci/')
                    or name.endswith('CMakeLists.txt'))]
    assert sources
    missing = [str(p.relative_to(REPO_DIR)) for p in sources
               if LICENCE_TAG not in ''.join(p.read_text(encoding='utf-8').splitlines(True)[:5])]
    assert not missing, f'files without "{LICENCE_TAG}" in their first lines: {missing}'
