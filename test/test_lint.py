# SPDX-License-Identifier: Apache-2.0
"""The linters a ROS 2 package runs: ament_flake8, ament_pep257 and licence headers."""
from pathlib import Path

from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
PYTHON_PATHS = ['acnn_ros', 'launch', 'test', 'setup.py', 'benchmarks']
LICENCE_TAG = 'SPDX-License-Identifier: Apache-2.0'


def _existing(paths):
    return [str(REPO_DIR / p) for p in paths if (REPO_DIR / p).exists()]


@pytest.mark.linter
def test_flake8():
    rc, errors = flake8_main(argv=_existing(PYTHON_PATHS))
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    rc = pep257_main(argv=_existing(['acnn_ros', 'launch', 'benchmarks']))
    assert rc == 0, 'pep257 found docstring errors (see output above)'


@pytest.mark.linter
def test_every_source_file_has_the_licence_header():
    sources = [p for p in REPO_DIR.rglob('*')
               if p.is_file() and (p.suffix in ('.py', '.sh') or p.parent.name == '.ci'
                                   or p.name == 'CMakeLists.txt')
               and not {'.venv', 'build', 'install', 'log', '.git'} & set(p.relative_to(
                   REPO_DIR).parts)]
    assert sources
    missing = [str(p.relative_to(REPO_DIR)) for p in sources
               if LICENCE_TAG not in ''.join(p.read_text(encoding='utf-8').splitlines(True)[:5])]
    assert not missing, f'files without "{LICENCE_TAG}" in their first lines: {missing}'
