# SPDX-License-Identifier: Apache-2.0
"""The one writer of docs/BENCHMARKS.md sections for every benchmark script."""
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / 'docs' / 'BENCHMARKS.md'
MARKER_PREFIX = '<!-- section:'


def replace_section(marker: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """
    Replace the section that starts at `marker`, up to the next marker, with `text`.

    `text` is the section with or without its marker line (added when missing). A section that
    is not in the file yet is appended at its end.
    """
    if not text.startswith(marker):
        text = marker + '\n' + text
    content = path.read_text(encoding='utf-8')
    if marker not in content:
        path.write_text(content.rstrip('\n') + '\n\n' + text.rstrip('\n') + '\n',
                        encoding='utf-8')
        return
    start = content.index(marker)
    following = content.find(MARKER_PREFIX, start + len(marker))
    rest = content[following:] if following >= 0 else ''
    path.write_text(content[:start] + text.rstrip('\n') + '\n' + ('\n' + rest if rest else ''),
                    encoding='utf-8')
