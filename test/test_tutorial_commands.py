# SPDX-License-Identifier: Apache-2.0
"""
docs/TUTORIAL.md's commands as written: each parses with `acnn`, each writes under tutorial/.

A newcomer who walked the tutorial found about 380 MiB of outputs untracked in the repository
root (issue 24): every output path of every `acnn` command in the tutorial now lies under one
folder, `tutorial/`, that .gitignore ignores, and every command is one the CLI accepts (the
changeover of step 8 included: `acnn line`, no `ros2` needed).
"""
from pathlib import Path
import re
import shlex

from acnn_ros.cli import build_parser

REPO_DIR = Path(__file__).resolve().parents[1]
TUTORIAL = REPO_DIR / 'docs' / 'TUTORIAL.md'
# Where each sub-command writes: the attribute of its parsed arguments.
OUTPUTS = {'make-bag': 'out', 'dataset': 'out', 'train': 'out', 'export': 'onnx',
           'thresholds': 'out', 'eval-recording': 'out'}


def tutorial_commands():
    """Return the `acnn` command lines of the tutorial's bash blocks (continuations joined)."""
    text = TUTORIAL.read_text(encoding='utf-8')
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            words = shlex.split(line, comments=True)
            if 'acnn' in words:
                commands.append(words[words.index('acnn') + 1:])
    return commands


def test_every_acnn_command_of_the_tutorial_parses_and_writes_under_tutorial():
    commands = tutorial_commands()
    names = [c[0] for c in commands]
    for name in ('make-bag', 'dataset', 'label', 'train', 'export', 'thresholds',
                 'eval-recording', 'demo', 'line'):
        assert name in names, name
    parser = build_parser()
    for words in commands:
        args = parser.parse_args(words)
        assert not getattr(args, 'unavailable', None), args.unavailable
        if words[0] in OUTPUTS:
            out = Path(str(getattr(args, OUTPUTS[words[0]])))
            assert out.parts[0] == 'tutorial', words
        for word in words[1:]:
            if '/' in word and not word.startswith(('resource/', 'config/', '/')):
                assert word.startswith('tutorial/'), (word, words)
    changeover = [c for c in commands if c[0] == 'line']
    assert ['line', 'load-model', 'tutorial/models/new_product.onnx'] in changeover
    assert ['line', 'set', 'inference_node', 'min_confidence', '0.742'] in changeover


def test_the_tutorial_folder_is_ignored_by_git():
    ignored = (REPO_DIR / '.gitignore').read_text(encoding='utf-8').split()
    assert '/tutorial/' in ignored
