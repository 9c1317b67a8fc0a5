# SPDX-License-Identifier: Apache-2.0
"""
`acnn label`'s web server: the labelling page and its small JSON API, on 127.0.0.1 only.

Python's standard library serves it (http.server.ThreadingHTTPServer; no web framework is
needed for one page and six endpoints). The page (`label_page.html`, a package resource, inline
JS/CSS, no external assets) drives the endpoints below; scripts and tests may call them too.
Frames are addressed by their index in the session's chosen list (0..total-1).

    GET  /                 the page
    GET  /api/state        {"total", "done", "skipped", "classes": [names], "tally": {name: n
                            done}, "frames": [{"index", "stem", "class_name", "status"}],
                            "nudge_px", "model": model file name or ""}
    GET  /api/frame?i=N    {"index", "stem", "class_id", "class_name", "status", "proposal":
                            [cx, cy, w, h], "proposal_source": "model" | "class_mean" |
                            "centre", "box": the written box when done, else the proposal}
    GET  /api/image?i=N    the frame's image (JPEG/PNG/BMP/WebP as stored, others as PNG)
    POST /api/label        {"index": N, "box": [cx, cy, w, h]} -> writes labels/train/<stem>.txt
                            (`cls cx cy w h`, the frame's class) at once; answers {"ok": true,
                            "box": the box written (clamped into the frame)} + the counts
    POST /api/skip         {"index": N} -> the frame stays without a box; answers the counts
    POST /api/undo         {} -> reverts the last label or skip (the label file as it was);
                            answers {"index": N or null} + the counts

Boxes are YOLO-normalised (centre and size over the frame's width and height). Errors answer
4xx with {"error": reason}. Requests whose Host header is not this server's are refused (a
page elsewhere cannot reach it by DNS rebinding).
"""
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import importlib.resources
import json
from pathlib import Path
import threading
from typing import Dict, List, Optional, Sequence
from urllib.parse import parse_qs, urlparse

from acnn_ros.core.dataset.label_selection import LabelConfig, select_for_labelling, target_count
from acnn_ros.core.dataset.label_session import (clamp_box, dataset_items, LabelSession,
                                                 write_atomic)
from acnn_ros.core.dataset.labels import YoloBox
import cv2
import numpy as np

BROWSER_TYPES = {'.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png',
                 '.bmp': 'image/bmp', '.webp': 'image/webp'}


def page_html() -> bytes:
    """Return the labelling page (package resource acnn_ros/offline/label_page.html)."""
    return (importlib.resources.files('acnn_ros.offline') / 'label_page.html').read_bytes()


class LabelServer:
    """A labelling session on a seed dataset's train split, served on 127.0.0.1."""

    def __init__(self, root: Path, model: Optional[Path] = None,
                 config: LabelConfig = LabelConfig(), count: Optional[int] = None,
                 progress: bool = False):
        self.root = Path(root)
        self.config = config
        self.model = Path(model) if model else None
        self.items, self.class_names = dataset_items(self.root)
        self._by_rel = {item.rel: item for item in self.items}
        self._pipeline = None
        if self.model is not None:
            from acnn_ros.runtime.pipeline import InspectionPipeline
            self._pipeline = InspectionPipeline.from_model_path(self.model)
        self._proposals: Dict[str, YoloBox] = {}
        self._lock = threading.Lock()
        self._undo: List[tuple] = []
        self.resumed = False
        self.session = self._open_session(count, progress)
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------ session and proposals

    def _open_session(self, count: Optional[int], progress: bool) -> LabelSession:
        session = LabelSession.load(self.root)
        if session is not None:
            session.chosen = [rel for rel in session.chosen if rel in self._by_rel]
        if session is not None and session.chosen:     # (an empty one, older: chosen again)
            self.resumed = True
            return session
        candidates = [item for item in self.items if item.class_id >= 0 and item.box is None]
        if not candidates:
            raise ValueError(self._nothing_to_box())
        wanted = count if count is not None else target_count(len(self.items),
                                                              self.config.fraction)
        positions = None
        if self._pipeline is not None:
            from tqdm import tqdm
            positions = [self.proposal_of(item.rel)[:2] for item in
                         tqdm(candidates, desc='proposals', unit='frame', disable=not progress)]
        picked = select_for_labelling([c.class_id for c in candidates], wanted,
                                      self.config.seed, positions, self.config.grid)
        session = LabelSession(self.root, [candidates[i].rel for i in picked])
        session.save()
        return session

    @property
    def unknown_class(self) -> int:
        """Return how many train frames have no class the server can tell (never offered)."""
        return sum(1 for item in self.items if item.class_id < 0)

    def _nothing_to_box(self) -> str:
        """Say why no frame can be offered (no session is saved then)."""
        where = self.root / 'images' / 'train'
        if not self.items:
            return f'no image in {where}'
        if self.unknown_class == len(self.items):
            return (f'the class of none of the {len(self.items)} frames in {where} is known, '
                    'so none can be offered: give each frame its class (labels/train/<stem>.txt '
                    'with the class id and classes.txt, a class sub-folder, or a file name '
                    'starting with the class; `acnn dataset` writes them); no session saved')
        return (f'every frame of {where} whose class is known already has a box '
                f'({self.unknown_class} of unknown class): nothing to box; no session saved')

    def proposal_of(self, rel: str) -> YoloBox:
        """Return the model's ROI for a frame (cached), normalised; needs a model."""
        if rel not in self._proposals:
            bgr = self.read_image(rel)
            outcome = self._pipeline.inspect(bgr)
            if outcome.roi is None:
                raise ValueError(f'{rel}: the model gave no ROI ({outcome.detail})')
            height, width = bgr.shape[:2]
            roi = outcome.roi
            self._proposals[rel] = clamp_box((roi.center_x / width, roi.center_y / height,
                                              roi.width / width, roi.height / height))
        return self._proposals[rel]

    def class_mean_box(self, class_id: int) -> Optional[YoloBox]:
        """Return the mean box of a class over the dataset's boxes and this session's."""
        boxes = [item.box for item in self.items if item.class_id == class_id and item.box]
        boxes += [box for rel, box in self.session.done.items()
                  if self._by_rel[rel].class_id == class_id]
        return tuple(float(v) for v in np.mean(boxes, axis=0)) if boxes else None

    def proposal(self, index: int):
        """Return (box, source) proposed for a chosen frame: model, class mean or centre."""
        item = self.item(index)
        if self._pipeline is not None:
            return self.proposal_of(item.rel), 'model'
        mean = self.class_mean_box(item.class_id)
        if mean is not None:
            return clamp_box(mean), 'class_mean'
        return clamp_box((0.5, 0.5, self.config.default_box_w, self.config.default_box_h)), \
            'centre'

    def item(self, index: int):
        """Return the LabelItem of a chosen frame by its index; IndexError if out of range."""
        if not 0 <= index < len(self.session.chosen):
            raise IndexError(f'frame index {index} outside 0..{len(self.session.chosen) - 1}')
        return self._by_rel[self.session.chosen[index]]

    def read_image(self, rel: str) -> np.ndarray:
        """Read a frame as BGR uint8."""
        image = cv2.imread(str(self.root / rel), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f'cannot read image {self.root / rel}')
        return image

    # ------------------------------------------------------------ the API (also over HTTP)

    def state(self) -> dict:
        """Return the counts, the per-class tally and every chosen frame's status."""
        with self._lock:
            return self._state(full=True)

    def _state(self, full: bool = False) -> dict:
        session = self.session
        tally = dict.fromkeys(self.class_names, 0)
        for rel in session.done:
            tally[self.class_names[self._by_rel[rel].class_id]] += 1
        state = {'total': len(session.chosen), 'done': len(session.done),
                 'skipped': len(session.skipped), 'tally': tally}
        if full:
            state.update(classes=self.class_names, nudge_px=self.config.nudge_px,
                         model=self.model.name if self.model else '',
                         frames=[{'index': i, 'stem': Path(rel).stem,
                                  'class_name': self.class_names[self._by_rel[rel].class_id],
                                  'status': session.status(rel)}
                                 for i, rel in enumerate(session.chosen)])
        return state

    def frame(self, index: int) -> dict:
        """Return a chosen frame's class, status, proposal and current box."""
        with self._lock:
            item = self.item(index)
            box, source = self.proposal(index)
            done = self.session.done.get(item.rel)
            return {'index': index, 'stem': item.stem, 'class_id': item.class_id,
                    'class_name': self.class_names[item.class_id],
                    'status': self.session.status(item.rel), 'proposal': list(box),
                    'proposal_source': source, 'box': list(done or box)}

    def label(self, index: int, box: Sequence[float]) -> dict:
        """Write a frame's box (its class kept) to labels/train/<stem>.txt; return counts."""
        if len(box) != 4 or not all(np.isfinite(float(v)) for v in box):
            raise ValueError(f'box must be four numbers cx, cy, w, h; got {box}')
        with self._lock:
            item = self.item(index)
            self._remember(item.rel)
            written = self.session.write_box(item.rel, item.class_id, box)
            return dict(self._state(), ok=True, box=list(written))

    def skip(self, index: int) -> dict:
        """Leave a frame without a box (it can be labelled later); return counts."""
        with self._lock:
            item = self.item(index)
            self._remember(item.rel)
            self.session.skipped.add(item.rel)
            self.session.save()
            return dict(self._state(), ok=True)

    def undo(self) -> dict:
        """Revert the last label or skip; return counts and the frame's index (None: nothing)."""
        with self._lock:
            if not self._undo:
                return dict(self._state(), index=None)
            rel, text, done, skipped = self._undo.pop()
            path = self.session.label_path(rel)
            if text is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, text)
            self.session.done.pop(rel, None)
            if done is not None:
                self.session.done[rel] = done
            (self.session.skipped.add if skipped else self.session.skipped.discard)(rel)
            self.session.save()
            return dict(self._state(), index=self.session.chosen.index(rel))

    def _remember(self, rel: str) -> None:
        path = self.session.label_path(rel)
        text = path.read_text(encoding='utf-8') if path.is_file() else None
        self._undo.append((rel, text, self.session.done.get(rel), rel in self.session.skipped))

    def image_bytes(self, index: int):
        """Return (content type, bytes) of a chosen frame's image as a browser shows it."""
        rel = self.item(index).rel
        path = self.root / rel
        kind = BROWSER_TYPES.get(path.suffix.lower())
        if kind:
            return kind, path.read_bytes()
        return 'image/png', cv2.imencode('.png', self.read_image(rel))[1].tobytes()

    # ------------------------------------------------------------ serving

    @property
    def port(self) -> int:
        """Return the port served on (after start)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Return the page's address (after start)."""
        return f'http://{self.config.host}:{self.port}/'

    def start(self) -> 'LabelServer':
        """Bind 127.0.0.1 (port 0: any free one) and serve in a background thread."""
        self._httpd = ThreadingHTTPServer((self.config.host, self.config.port),
                                          _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name='acnn-label-http')
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5.0)
            self._httpd = None

    def __enter__(self) -> 'LabelServer':
        """Start serving."""
        return self.start()

    def __exit__(self, *exc) -> None:
        """Stop serving."""
        self.stop()


def _handler_class(server: LabelServer):
    """Return a request handler class bound to one LabelServer."""
    page = page_html()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:       # quiet: the CLI prints its own lines
            pass

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header('Content-Type', kind)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, data: dict) -> None:
            self._send(code, 'application/json', json.dumps(data).encode('utf-8'))

        def _guarded(self, action) -> None:
            allowed = {f'{h}:{server.port}' for h in (server.config.host, 'localhost')}
            if self.headers.get('Host') not in allowed:
                self._json(403, {'error': 'unexpected Host header'})
                return
            try:
                action()
            except (IndexError, ValueError, KeyError, TypeError) as exc:
                self._json(400, {'error': str(exc)})

        def do_GET(self) -> None:                   # noqa: N802 (http.server's name)
            self._guarded(self._get)

        def do_POST(self) -> None:                  # noqa: N802
            self._guarded(self._post)

        def _get(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path in ('/', '/index.html'):
                self._send(200, 'text/html; charset=utf-8', page)
            elif url.path == '/api/state':
                self._json(200, server.state())
            elif url.path == '/api/frame':
                self._json(200, server.frame(int(query['i'][0])))
            elif url.path == '/api/image':
                self._send(200, *server.image_bytes(int(query['i'][0])))
            else:
                self._json(404, {'error': f'no such page {url.path}'})

        def _post(self) -> None:
            length = int(self.headers.get('Content-Length') or 0)
            body = json.loads(self.rfile.read(length) or b'{}') if length else {}
            path = urlparse(self.path).path
            if path == '/api/label':
                self._json(200, server.label(int(body['index']), body['box']))
            elif path == '/api/skip':
                self._json(200, server.skip(int(body['index'])))
            elif path == '/api/undo':
                self._json(200, server.undo())
            else:
                self._json(404, {'error': f'no such endpoint {path}'})

    return Handler


def config_from(fraction: float, seed: int, port: int) -> LabelConfig:
    """Return the default LabelConfig with the CLI's choices."""
    return replace(LabelConfig(), fraction=fraction, seed=seed, port=port)
