# SPDX-License-Identifier: Apache-2.0
"""
`acnn label DATA`: box the ~5 % of a dataset's train split that the A-CNN learns to localize from.

Picks the frames (every class, a spread of positions; seeded), serves the labelling page on
127.0.0.1 (acnn_ros/offline/label_server.py) and opens it in the default browser. Each accepted
box is written at once to labels/train/<stem>.txt; DATA/label_session.json keeps the chosen
frames and the done ones, so running the command again resumes. Ctrl-C stops the server.
"""
import argparse
from pathlib import Path
import time
import webbrowser

from acnn_ros.core.dataset.label_selection import LabelConfig
from acnn_ros.core.dataset.label_session import SESSION_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn label`."""
    defaults = LabelConfig()
    parser.add_argument('data', type=Path, help='dataset in the seed format (its train split)')
    parser.add_argument('--model', type=Path, default=None,
                        help='ONNX model (+ card) whose ROI is the proposed box and whose ROI '
                             'positions spread the chosen frames (default: no model; the '
                             "proposal is the class's mean box so far, else the frame centre)")
    parser.add_argument('--fraction', type=float, default=defaults.fraction,
                        help=f'share of the train split to box (default {defaults.fraction})')
    parser.add_argument('--count', type=int, default=None,
                        help='number of frames to box instead of --fraction')
    parser.add_argument('--seed', type=int, default=defaults.seed,
                        help=f'selection seed (default {defaults.seed})')
    parser.add_argument('--port', type=int, default=defaults.port,
                        help='port on 127.0.0.1 (default 0: any free port)')
    parser.add_argument('--no-browser', action='store_true',
                        help='print the address instead of opening a browser')


def run(args: argparse.Namespace) -> int:
    """Serve the labelling page until Ctrl-C; return the exit status."""
    from acnn_ros.offline.label_server import config_from, LabelServer

    if not 0.0 < args.fraction <= 1.0:
        print('error: --fraction must be in (0, 1]')
        return 2
    try:
        server = LabelServer(args.data, model=args.model, count=args.count, progress=True,
                             config=config_from(args.fraction, args.seed, args.port))
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}')
        return 2
    state = server.state()
    how = 'resumed' if server.resumed else 'new'
    print(f'{how} session {args.data / SESSION_FILE}: {state["total"]} frames to box of '
          f'{len(server.items)} train frames ({state["done"]} done, {state["skipped"]} skipped)'
          + ('; delete the session file to choose again' if server.resumed else ''))
    if server.resumed and args.count is not None and args.count != state['total']:
        print(f'note: --count {args.count} is ignored: the resumed session keeps its '
              f'{state["total"]} frames (delete {args.data / SESSION_FILE} to choose '
              f'{args.count})')
    if server.unknown_class:
        print(f'note: {server.unknown_class} train frames have no class this tool can tell '
              'and are never offered (labels/train/<stem>.txt, class folders or names)')
    server.start()
    try:
        print(f'labelling page: {server.url}  (Ctrl-C to stop)')
        if not args.no_browser:
            webbrowser.open(server.url)
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    state = server.state()
    print(f'{state["done"]} of {state["total"]} frames boxed, {state["skipped"]} skipped; '
          f'labels in {args.data / "labels" / "train"}')
    return 0
