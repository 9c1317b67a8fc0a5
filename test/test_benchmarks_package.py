# SPDX-License-Identifier: Apache-2.0
"""
benchmarks/ is a package run as `python -m benchmarks.<name>`, apart from the tests.

Benchmarks import acnn_ros and each other (`benchmarks.common`, ...), never test/; tests
import acnn_ros (what they check of a benchmark lives in acnn_ros/app/bench), never
benchmarks/; nothing edits sys.path to reach across.
"""
import ast
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_DIR / 'benchmarks'
TEST_DIR = REPO_DIR / 'test'


def _imports(path: Path):
    """Yield (line, top-level module name) for every absolute import in `path`."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split('.')[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split('.')[0]


def _sys_path_edits(path: Path):
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == 'path' and \
                isinstance(node.value, ast.Name) and node.value.id == 'sys':
            yield node.lineno


@pytest.mark.linter
def test_benchmarks_are_a_package_that_never_imports_the_tests():
    assert (BENCHMARKS_DIR / '__init__.py').is_file()
    test_modules = {p.stem for p in TEST_DIR.glob('*.py')} | {'test'}
    found = [f'{p.relative_to(REPO_DIR)}:{line}: imports {name}'
             for p in sorted(BENCHMARKS_DIR.rglob('*.py'))
             for line, name in _imports(p) if name in test_modules]
    found += [f'{p.relative_to(REPO_DIR)}:{line}: edits sys.path'
              for p in sorted(BENCHMARKS_DIR.rglob('*.py')) for line in _sys_path_edits(p)]
    assert not found, '\n'.join(found)


@pytest.mark.linter
def test_tests_never_import_the_benchmarks():
    benchmark_modules = {p.stem for p in BENCHMARKS_DIR.glob('*.py')} | {'benchmarks'}
    benchmark_modules.discard('__init__')
    found = [f'{p.relative_to(REPO_DIR)}:{line}: imports {name}'
             for p in sorted(TEST_DIR.rglob('*.py'))
             for line, name in _imports(p) if name in benchmark_modules]
    assert not found, '\n'.join(found)
