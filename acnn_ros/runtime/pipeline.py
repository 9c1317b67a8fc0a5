# SPDX-License-Identifier: Apache-2.0
"""
The per-frame inspection pipeline: decode -> preprocess -> engine -> postprocess.

`InspectionPipeline` is what the inference node, `acnn eval-recording`, the benchmarks and the demo
all call; it has no ROS dependency. A pipeline never changes once built (class names included),
so a product changeover is the atomic replacement of one pipeline object by another in a
`PipelineHolder`: a frame is inspected entirely by the model it started with.
"""
from pathlib import Path
import threading
import time
from typing import List, Optional, Sequence, Tuple, Union

from acnn_ros.core.image_cdr import array_image_cdr, image_from_cdr
from acnn_ros.core.image_codec import (decode_compressed, decode_image, DEFAULT_MAX_PIXELS,
                                       ImageDecodeError)
from acnn_ros.core.messages import inspect_image_message
from acnn_ros.core.model_card import card_path_for, file_hash, ModelCard, ModelCardError
from acnn_ros.core.preprocess import preprocess, PreprocessError
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, StageTimes
from acnn_ros.runtime.engines import create_engine, EngineError
from acnn_ros.runtime.engines.contract import CheckpointModuleLoader
import numpy as np

DecodeResult = Tuple[InspectionOutcome, Optional[np.ndarray]]


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


class InspectionPipeline:
    """A loaded model with its card; `inspect` turns one BGR frame into an outcome."""

    def __init__(self, engine, card: ModelCard, model_path: Path,
                 class_names: Optional[Sequence[str]] = None, warnings: Sequence[str] = ()):
        self.engine = engine
        self.card = card
        self.model_path = Path(model_path)
        self.warnings = tuple(warnings)
        self.warmup_ms: Tuple[float, ...] = ()   # per warm-up run (warmup), for the log
        names = tuple(str(name) for name in class_names) if class_names else card.class_names
        if len(names) != card.num_classes:
            raise ValueError(f'{len(names)} class names given ({", ".join(names)}) but model '
                             f'{card.model_id} scores {card.num_classes} classes '
                             f'({", ".join(card.class_names)})')
        self.class_names = names

    @classmethod
    def from_model_path(cls, path, backend: str = 'onnxruntime',
                        providers: Sequence[str] = ('cpu',), intra_op_threads: int = 0,
                        inter_op_threads: int = 0, class_names: Optional[Sequence[str]] = None,
                        trt_fp16: bool = True,
                        trt_cache_dir: str = '~/.cache/acnn_ros/tensorrt', device_id: int = 0,
                        warmup_runs: int = 1,
                        load_checkpoint_module: Optional[CheckpointModuleLoader] = None,
                        ) -> 'InspectionPipeline':
        """
        Load `<stem>.onnx` (or a torch file) and its `<stem>.json` card, then warm it up.

        `load_checkpoint_module` (backend 'torch' only) reads a training checkpoint; the
        composer injects it (`acnn_ros.model.checkpoint.load_checkpoint_module`), the runtime
        has no model code. Without it only TorchScript loads on the torch backend.

        Raises ModelCardError (missing/bad card), EngineError (missing file, unloadable model,
        input size not the card's, no usable provider) or ValueError (bad options), each with a
        message that names the file and what is wrong.
        """
        path = Path(path)
        if not path.is_file():
            raise EngineError(f'model file not found: {path}')
        card_path = card_path_for(path)
        card = ModelCard.load(card_path) if card_path.is_file() or backend != 'torch' else None
        warnings = []
        actual_hash = file_hash(path)
        if card is not None and backend == 'onnxruntime' and card.content_hash \
                and card.content_hash != actual_hash:
            warnings.append(f'{path.name} has sha256 {actual_hash}, its card says '
                            f'{card.content_hash}: the card may belong to another export')
        options = {'intra_op_threads': intra_op_threads}
        if backend in ('onnxruntime', 'tensorrt'):
            options.update(input_size=(card.input_width, card.input_height), trt_fp16=trt_fp16,
                           trt_cache_dir_base=trt_cache_dir,
                           model_hash=card.content_hash or actual_hash, device_id=device_id)
        if backend == 'onnxruntime':
            options.update(providers=providers, inter_op_threads=inter_op_threads)
        if backend == 'torch':
            options.update(load_checkpoint_module=load_checkpoint_module)
        engine = create_engine(backend, path, **options)
        if card is None:
            # A training checkpoint without a card: the checkpoint itself names the classes.
            hint = getattr(engine, 'card_hint', None)
            if hint is None:
                raise ModelCardError(f'model card not found: {card_path}')
            card = ModelCard(content_hash=actual_hash, **hint)
        pipeline = cls(engine, card, path, class_names=class_names, warnings=warnings)
        pipeline.warmup(warmup_runs)
        return pipeline

    @property
    def model_id(self) -> str:
        """Return the id published with every result (card name and content hash)."""
        return self.card.model_id

    @property
    def provider_report(self) -> str:
        """Return one line saying which backend and provider run the model (and its warm-up)."""
        if not self.warmup_ms:
            return self.engine.provider_report
        runs = ', '.join(f'{ms:.1f}' for ms in self.warmup_ms)
        return (f'{self.engine.provider_report}; warm-up {len(self.warmup_ms) - 1} engine '
                f'runs + 1 frame path: {runs} ms')

    def with_class_names(self, class_names: Optional[Sequence[str]]) -> 'InspectionPipeline':
        """Return a pipeline sharing this engine with other class names (empty = the card's)."""
        return InspectionPipeline(self.engine, self.card, self.model_path,
                                  class_names=class_names, warnings=self.warnings)

    def warmup(self, runs: int = 1) -> None:
        """
        Run `runs` blank frames through the engine, then one through the frame path; time them.

        A stage's first call in a process is slow: ONNX Runtime's first run, and rosbags
        generating its CDR code at the first image (de)serialized (~65 ms each way on 2 cores).
        A first frame that slow holds the next ones back until they arrive together, and the
        newest-frame slot then drops all but one (DROPPED_FRAME rejects at every start,
        docs/INFERENCE.md "Start-up"). So after the engine runs, one blank frame at the model's
        input size goes the whole way of a received image: CDR bytes, deserialization, decode,
        preprocess, engine, postprocess (its outcome is not used). An engine that fails raises
        here, as at every load; `runs` 0 warms nothing. `warmup_ms` keeps the times.
        """
        runs = max(0, int(runs))
        blank = np.zeros((1, 3, self.card.input_height, self.card.input_width), np.float32)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.engine.run(blank)
            times.append(_ms(start, time.perf_counter()))
        if runs:
            start = time.perf_counter()
            frame = np.zeros((self.card.input_height, self.card.input_width, 3), np.uint8)
            inspect_image_message(self, image_from_cdr(array_image_cdr(frame, 'bgr8', 0,
                                                                       'warmup')))
            times.append(_ms(start, time.perf_counter()))
        self.warmup_ms = tuple(times)

    def inspect(self, bgr: np.ndarray, decode_ms: float = 0.0) -> InspectionOutcome:
        """
        Return the outcome for one decoded BGR uint8 frame; never raises for a bad frame.

        `decode_ms` (time the caller spent decoding) is added to preprocess_ms. The ROI is in
        the pixels of `bgr`, whatever size the model input is. The same as `prepare`, then
        `complete` on this thread.
        """
        staged = self.prepare(bgr, decode_ms)
        return staged if isinstance(staged, InspectionOutcome) else self.complete(staged)

    def prepare(self, bgr: np.ndarray, decode_ms: float = 0.0) -> 'Staged':
        """
        Preprocess one frame for the engine: a PreparedFrame, or the frame's ERROR outcome.

        The first half of `inspect`, for callers that prepare the next frame while the engine
        runs the current one (runtime/staged_worker.py); `complete` does the rest.
        """
        start = time.perf_counter()
        try:
            tensor, mapping = preprocess(bgr, self.card.input_width, self.card.input_height)
        except PreprocessError as exc:
            return InspectionOutcome.error(f'bad frame: {exc}', model_id=self.model_id)
        return PreparedFrame(self, tensor, mapping,
                             decode_ms + _ms(start, time.perf_counter()))

    def complete(self, frame: 'PreparedFrame') -> InspectionOutcome:
        """Run the engine on a prepared frame and postprocess: its outcome; never raises."""
        return self.complete_batch([frame])[0]

    def complete_batch(self, frames: Sequence['PreparedFrame']) -> List[InspectionOutcome]:
        """
        Run the engine once on prepared frames (one batch) and postprocess each; never raises.

        The frames of one part seen by several cameras (runtime/batch_intake.py). The engine
        runs them in batches of at most its `max_batch` (1 for a TensorRT profile fixed at batch
        1); each outcome's inference_ms is its batch's engine time.
        """
        limit = getattr(self.engine, 'max_batch', None) or len(frames)
        outcomes = []
        for first in range(0, len(frames), limit):
            outcomes += self._complete_one_batch(frames[first:first + limit])
        return outcomes

    def _complete_one_batch(self, frames: Sequence['PreparedFrame']) -> List[InspectionOutcome]:
        model_id = self.model_id
        count = len(frames)
        started = time.perf_counter()
        try:
            probs, roi = self.engine.run(frames[0].tensor if count == 1 else
                                         np.concatenate([frame.tensor for frame in frames]))
        except Exception as exc:  # any engine failure is this frame's error result
            return [InspectionOutcome.error(
                f'engine failure ({self.engine.backend}): {exc}', model_id=model_id,
                image_width=frame.mapping.source_width,
                image_height=frame.mapping.source_height) for frame in frames]
        inferred = time.perf_counter()
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        roi = np.asarray(roi, dtype=np.float64).reshape(-1)
        if probs.size != self.card.num_classes * count or roi.size != 4 * count:
            return [InspectionOutcome.error(
                f'model output has {probs.size} scores and {roi.size} roi values, expected '
                f'{self.card.num_classes * count} and {4 * count}', **self._sizes(frame))
                for frame in frames]
        engine_ms = _ms(started, inferred)
        return [self._postprocess(frame, frame_probs, frame_roi, engine_ms)
                for frame, frame_probs, frame_roi in zip(
                    frames, probs.reshape(count, -1), roi.reshape(count, 4))]

    def _sizes(self, frame: 'PreparedFrame') -> dict:
        return {'model_id': self.model_id, 'image_width': frame.mapping.source_width,
                'image_height': frame.mapping.source_height}

    def _postprocess(self, frame: 'PreparedFrame', probs: np.ndarray, roi: np.ndarray,
                     engine_ms: float) -> InspectionOutcome:
        start = time.perf_counter()
        mapping = frame.mapping
        sizes = self._sizes(frame)
        if not (np.all(np.isfinite(probs)) and np.all(np.isfinite(roi))):
            return InspectionOutcome.error('model output is not finite (NaN/inf)', **sizes)
        class_id = int(np.argmax(probs))
        box = mapping.normalised_to_source(*(float(v) for v in roi))
        postprocess_ms = _ms(start, time.perf_counter())
        # The stages' own times: a wait between prepare and complete is not pipeline work.
        times = StageTimes(preprocess_ms=frame.preprocess_ms, inference_ms=engine_ms,
                           postprocess_ms=postprocess_ms,
                           pipeline_ms=frame.preprocess_ms + engine_ms + postprocess_ms)
        return InspectionOutcome(
            status=InspectionStatus.OK, class_id=class_id,
            class_name=self.class_names[class_id], confidence=float(probs[class_id]),
            class_scores=tuple(float(p) for p in probs), roi=box, times=times, **sizes)

    def inspect_image(self, encoding: str, width: int, height: int, step: int, data,
                      is_bigendian: bool = False,
                      max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> DecodeResult:
        """
        Decode sensor_msgs/Image fields and inspect; (error outcome, None) if undecodable.

        An image of more than `max_pixels` pixels is such an error (None: no budget).
        """
        return self._decoded(lambda: decode_image(encoding, width, height, step, data,
                                                  is_bigendian, max_pixels), self.inspect)

    def inspect_compressed(self, fmt: str, data,
                           max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> DecodeResult:
        """
        Decode sensor_msgs/CompressedImage fields and inspect, like inspect_image.

        The size the JPEG / PNG header declares is checked against `max_pixels` first: an
        image over it is refused without being decoded.
        """
        return self._decoded(lambda: decode_compressed(fmt, data, max_pixels), self.inspect)

    def _decoded(self, decode, then):
        start = time.perf_counter()
        try:
            bgr = decode()
        except ImageDecodeError as exc:
            return InspectionOutcome.error(f'bad image: {exc}', model_id=self.model_id), None
        return then(bgr, decode_ms=_ms(start, time.perf_counter())), bgr

    def preparing(self) -> 'PreparingView':
        """Return this pipeline seen through `prepare` (core.messages.inspect_image_message)."""
        return PreparingView(self)


class PreparedFrame:
    """A frame preprocessed by `pipeline` (its tensor and ROI mapping), ready for its engine."""

    __slots__ = ('pipeline', 'tensor', 'mapping', 'preprocess_ms')

    def __init__(self, pipeline: InspectionPipeline, tensor: np.ndarray, mapping,
                 preprocess_ms: float):
        self.pipeline = pipeline    # the frame is completed by the model it was prepared for
        self.tensor = tensor
        self.mapping = mapping
        self.preprocess_ms = preprocess_ms

    def complete(self) -> InspectionOutcome:
        """Run the engine and postprocess (InspectionPipeline.complete)."""
        return self.pipeline.complete(self)


Staged = Union[PreparedFrame, InspectionOutcome]


class PreparingView:
    """
    A pipeline whose `inspect*` stop after preprocessing: (PreparedFrame or ERROR, bgr).

    Duck-types the pipeline for core.messages.inspect_image_message, which picks the decoder
    from the message (Image, CompressedImage, unreadable bytes); `PreparedFrame.complete` runs
    the rest.
    """

    def __init__(self, pipeline: InspectionPipeline):
        self._pipeline = pipeline
        self.model_id = pipeline.model_id

    def inspect(self, bgr: np.ndarray, decode_ms: float = 0.0) -> Staged:
        """Return `prepare(bgr)`."""
        return self._pipeline.prepare(bgr, decode_ms)

    def inspect_image(self, encoding: str, width: int, height: int, step: int, data,
                      is_bigendian: bool = False, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
        """Decode Image fields (at most `max_pixels`) and prepare."""
        return self._pipeline._decoded(lambda: decode_image(encoding, width, height, step, data,
                                                            is_bigendian, max_pixels),
                                       self.inspect)

    def inspect_compressed(self, fmt: str, data, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
        """Decode CompressedImage fields (header size at most `max_pixels`) and prepare."""
        return self._pipeline._decoded(lambda: decode_compressed(fmt, data, max_pixels),
                                       self.inspect)


class PipelineHolder:
    """
    The pipeline in service, replaceable atomically while frames are being inspected.

    Readers take `current` once per frame and use that object to the end, so a swap never
    mixes two models within a frame. `load` builds the new pipeline before swapping: when
    loading fails the old one stays in service and the error propagates.
    """

    def __init__(self, pipeline: InspectionPipeline):
        self._pipeline = pipeline
        self._lock = threading.Lock()

    @property
    def current(self) -> InspectionPipeline:
        """Return the pipeline in service."""
        return self._pipeline

    def swap(self, pipeline: InspectionPipeline) -> InspectionPipeline:
        """Put `pipeline` in service and return the one it replaces."""
        with self._lock:
            previous, self._pipeline = self._pipeline, pipeline
        return previous

    def load(self, path, **options) -> Tuple[InspectionPipeline, InspectionPipeline]:
        """Load a model (InspectionPipeline.from_model_path options); return (new, old)."""
        with self._lock:
            # Serialise loads; frames keep using the old pipeline while this one builds.
            new = InspectionPipeline.from_model_path(path, **options)
            previous, self._pipeline = self._pipeline, new
        return new, previous

    def set_class_names(self, class_names: Optional[Sequence[str]]) -> InspectionPipeline:
        """Swap in the same model with other class names; ValueError if the count differs."""
        with self._lock:
            self._pipeline = self._pipeline.with_class_names(class_names)
            return self._pipeline


__all__ = ['InspectionPipeline', 'PipelineHolder', 'PreparedFrame', 'PreparingView', 'Staged',
           'EngineError', 'ModelCardError']
