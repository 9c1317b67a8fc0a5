# SPDX-License-Identifier: Apache-2.0
"""
inference_node: camera images in, one acnn_ros/InspectionResult per image out; a managed node.

configure loads and warms up the model and creates the publishers and `~/load_model`; activate
subscribes to the images and starts the worker; deactivate unsubscribes and answers the frames
it holds (in the engine, queued for it, waiting) before it returns, so a frame received while
active gets exactly one result and one received later none; cleanup and shutdown release the
model. Product changeover: deactivate, set the model parameters (MODEL_PARAMETERS), activate:
the new model is loaded before it replaces the old one, and one that does not load fails the
activation (the node stays inactive with the old model). `~/load_model` swaps models while active.
"""
import dataclasses
import time
from typing import List, Optional

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_WARN
from acnn_ros.core.messages import result_fields
from acnn_ros.core.overlay import draw_overlay
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import InspectionResult
from acnn_ros.nodes.clean_shutdown import spin_until_interrupted
from acnn_ros.nodes.diagnostics import publish_status
from acnn_ros.nodes.image_topics import (image_bytes, ImageSubscriptions, ros_header,
                                         subscribe_images)
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from acnn_ros.runtime.batch_intake import BatchIntake
from acnn_ros.runtime.frame_intake import (FrameIntake, MemoryFrame, TakenFrame,
                                           WORKER_STOP_TIMEOUT_S)
from acnn_ros.runtime.inference_config import (declared_specs, INACTIVE_ONLY_PARAMETERS,
                                               InferenceConfig, MODEL_PARAMETERS,
                                               PARAMETER_SPECS, resolve_model_path)
from acnn_ros.runtime.pipeline import EngineError, InspectionPipeline, PipelineHolder
from acnn_ros.runtime.stats import diagnostic_level, InferenceStats
from acnn_ros.srv import LoadModel
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

# Reliable (shallow) so that rviz and best-effort viewers can both subscribe.
OVERLAY_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)


class InferenceNode(ManagedNode):
    """Run the A-CNN on every image; publish verdicts, overlay and diagnostics."""

    # Config values, model card (ModelCardError) and model file / engine errors (EngineError)
    # fail the transition with the reason; ConfigError and ModelCardError are ValueErrors.
    configuration_errors = (ValueError, EngineError, OSError)

    def __init__(self, image_topics: bool = True, **kwargs):
        """
        Declare the parameters; configure loads the model.

        `image_topics=False` (a composing process that hands frames over with inspect_frame)
        subscribes to no image topic. The other keyword arguments go to rclpy's Node.
        """
        # Set first: rclpy's context destroys the node at shutdown even if __init__ raised.
        self._image_topics = image_topics
        self.config: Optional[InferenceConfig] = None      # from configure to cleanup
        self._holder: Optional[PipelineHolder] = None
        self._pending = set()            # model parameters set since the model was loaded
        self._activate_error: Optional[str] = None
        self._stats = InferenceStats()
        self._overlays_published = 0
        self._results = self._overlay = self._load_service = None
        self._intake: Optional[FrameIntake] = None     # while active: frames in, one answer each
        self._image_subscriptions: List = []
        # A station: each camera's overlay on ~/overlay/<its image topic>, found by frame_id.
        self._camera_overlays, self._camera_topics = {}, {}
        super().__init__('inference_node', **kwargs)
        declare_parameters(self, declared_specs())
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.get_parameter('diagnostics_period_s').value,
                          self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_parameters)

    # ---- lifecycle transitions

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm up the model; create the publishers and ~/load_model."""
        self._activate_error = None
        return super().on_configure(state)

    def configure(self) -> None:
        """Read InferenceConfig, load the model, create publishers and service."""
        config = InferenceConfig.from_values(self._parameter_values())
        pipeline = InspectionPipeline.from_model_path(resolve_model_path(config.model_path),
                                                      **config.pipeline_options())
        self.config, self._holder = config, PipelineHolder(pipeline)
        self._pending.clear()
        self._log_model('loaded', pipeline)
        self._results = self.create_lifecycle_publisher(
            InspectionResult, 'inspection', PER_PART_PUBLISHER_QOS)
        self._overlay = self.create_lifecycle_publisher(
            Image, '~/overlay', OVERLAY_QOS)
        self._load_service = self.create_service(
            LoadModel, '~/load_model', self._on_load_model,
            callback_group=MutuallyExclusiveCallbackGroup())

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model of a changeover (if its parameters changed), then subscribe."""
        try:
            self._apply_changeover()
        except Exception as exc:  # the new model is built before the swap: the old one stays
            reason = str(exc) if isinstance(exc, self.configuration_errors) \
                else f'{type(exc).__name__}: {exc}'
            self._activate_error = f'activate failed, still using ' \
                f'{self._holder.current.model_id}: {reason}'
            self.get_logger().error(f'product changeover: {self._activate_error}')
            return TransitionCallbackReturn.FAILURE
        self._activate_error = None
        result = super().on_activate(state)    # publishers on before the first frame can come
        if result == TransitionCallbackReturn.SUCCESS:
            self._start_consuming()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and answer the frames in hand, then switch the publishers off."""
        self._stop_consuming()
        self.get_logger().info('deactivated: images are not inspected until activated')
        return super().on_deactivate(state)

    def release(self) -> None:
        """Stop consuming; destroy publishers and service; drop the model (idempotent)."""
        self._stop_consuming()
        for publisher in (self._results, self._overlay):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        if self._load_service is not None:
            self.destroy_service(self._load_service)
        self._results = self._overlay = self._load_service = None
        self._holder = self.config = None

    # ---- changeover and parameters

    def _parameter_values(self) -> dict:
        return {spec.name: self.get_parameter(spec.name).value for spec in PARAMETER_SPECS}

    def _apply_changeover(self) -> None:
        config = InferenceConfig.from_values(self._parameter_values())
        if self._pending - {'class_names'}:
            new, old = self._holder.load(resolve_model_path(config.model_path),
                                         **config.pipeline_options())
            self._log_model(f'product changeover: replaced {old.model_id}; loaded', new)
        elif 'class_names' in self._pending:
            self._holder.set_class_names(config.class_names or None)
            self._log_model('class names changed;', self._holder.current)
        self.config = config
        self._pending.clear()

    def _on_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters}
        state = self.lifecycle_state
        held = sorted(INACTIVE_ONLY_PARAMETERS & set(changes))
        if held and state not in ('unconfigured', 'inactive'):
            return SetParametersResult(successful=False, reason=(
                f'{", ".join(held)} can only be set while inference_node is not active (it is '
                f'{state}): product changeover = deactivate, set the parameters, activate; or '
                'call ~/load_model'))
        try:
            config = InferenceConfig.from_values({**self._parameter_values(), **changes})
            if 'class_names' in changes and state == 'active':
                self._holder.set_class_names(config.class_names or None)
                self._log_model('class names changed;', self._holder.current)
        except ValueError as exc:       # ConfigError, or a class count the model does not have
            return SetParametersResult(successful=False, reason=str(exc))
        if state != 'active':
            self._pending |= MODEL_PARAMETERS & set(changes)
        if self.config is not None:
            self.config = config
        return SetParametersResult(successful=True)

    def _on_load_model(self, request, response):
        holder, config = self._holder, self.config    # cleanup may run meanwhile
        if holder is None or config is None:
            response.success = False
            response.message = f'inference_node is {self.lifecycle_state}: configure it first'
            return response
        old = holder.current
        try:
            path = resolve_model_path(request.model_path)
            options = config.pipeline_options()
            options['class_names'] = list(request.class_names) or None
            new, _ = holder.load(path, **options)
        except self.configuration_errors as exc:
            response.success = False
            response.message = f'load failed, still using {old.model_id}: {exc}'
            self.get_logger().error(f'model changeover: {response.message}')
            return response
        self._log_model(f'model changeover: replaced {old.model_id}; loaded', new)
        response.success = True
        response.message = f'{new.model_id} [{", ".join(new.class_names)}]; {new.provider_report}'
        return response

    def _log_model(self, verb: str, pipeline: InspectionPipeline) -> None:
        self.get_logger().info(f'{verb} model {pipeline.model_id} from {pipeline.model_path} '
                               f'classes [{", ".join(pipeline.class_names)}]; '
                               f'{pipeline.provider_report}')
        for warning in pipeline.warnings:
            self.get_logger().warning(warning)

    # ---- frames

    def _start_consuming(self) -> None:
        config = self.config
        # Decode + preprocess of the next frame overlap the engine run of the current one; a
        # station's cameras: the frames of a part in one engine call (runtime/batch_intake).
        self._intake = BatchIntake(
            self._holder, self._answer, len(config.image_topics), config.batch_window_s,
            config.max_image_pixels) if config.image_topics else FrameIntake(
            self._holder, self._answer, config.max_image_pixels)
        if not self._image_topics:
            self.get_logger().info('inspecting frames handed over in memory (inspect_frame)')
            return
        qos = QoSProfile(depth=config.image_qos_depth, reliability=(
            ReliabilityPolicy.BEST_EFFORT if config.image_qos == 'sensor_data'
            else ReliabilityPolicy.RELIABLE))
        # Serialized messages, deserialized by rosbags (nodes/image_topics.py).
        self._image_subscriptions = ImageSubscriptions()
        for topic in config.image_topics or ('image',):
            subscribe_images(self, config.image_transport, self._on_image if not
                             config.image_topics else self._camera_receiver(topic), qos, topic,
                             self._image_subscriptions)
        topics = ', '.join(self.resolve_topic_name(t) for t in config.image_topics or ('image',))
        batched = (f' (one engine call per part, window {config.batch_window_s:g} s)'
                   if config.image_topics else '')
        self.get_logger().info(f'inspecting {config.image_transport} images from '
                               f'{topics}{batched}; {describe_dds()}')

    def _stop_consuming(self) -> None:
        intake, self._intake = self._intake, None
        if intake is not None and not intake.close():
            self.get_logger().error(f'the frame in the engine took over '
                                    f'{WORKER_STOP_TIMEOUT_S:g} s; not waiting for it')
        for subscription in self._image_subscriptions:
            self.destroy_subscription(subscription)
        self._image_subscriptions = []
        for publisher in self._camera_overlays.values():
            self.destroy_publisher(publisher)
        self._camera_overlays, self._camera_topics = {}, {}

    def _camera_receiver(self, topic: str):
        """Return the image callback of a station camera's topic (its overlay topic's too)."""
        self._camera_overlays[topic] = self.create_publisher(
            Image, f'~/overlay/{topic}', OVERLAY_QOS)

        def receive(msg) -> None:
            self._camera_topics[msg.header.frame_id] = topic
            self._on_image(msg)
        return receive

    def inspect_frame(self, header: Header, bgr: np.ndarray) -> None:
        """
        Take a frame handed over in memory, exactly as if `image` had brought it (composition).

        The one-process line (nodes/inspection_line) calls it from camera_node's capture callback:
        the frame goes through the same intake as a received message (newest frame wins, a
        displaced one is answered DROPPED, nothing is taken unless active) and gets one
        InspectionResult with `header`; the pixels are never copied or serialized.
        """
        self._on_image(MemoryFrame(header, bgr))

    def _on_image(self, msg) -> None:
        intake = self._intake
        if intake is not None:
            intake.take(msg)    # refused once deactivating: not this node's frame to answer

    def _answer(self, frame: TakenFrame, outcome: InspectionOutcome, bgr) -> None:
        """Publish one frame's result (and overlay); the intake calls it once per frame."""
        header = frame.msg.header
        if outcome.status == InspectionStatus.ERROR:
            stamp = header.stamp
            self.get_logger().warning(
                f'frame {header.frame_id} {stamp.sec}.{stamp.nanosec:09d}: '
                f'{outcome.detail}', throttle_duration_sec=5.0)
        if not self.context.ok():
            return      # ROS is shutting down: nobody can receive it
        self._publish(header, outcome, frame.received)
        overlay = self._camera_overlays.get(self._camera_topics.get(header.frame_id),
                                            self._overlay)
        if bgr is not None and overlay.get_subscription_count() > 0:
            try:
                self._publish_overlay(overlay, header, bgr, outcome)
            except Exception as exc:  # the verdict is out; the overlay is best effort
                self.get_logger().error(f'overlay failed: {exc!r}', throttle_duration_sec=5.0)

    def _publish(self, header, outcome: InspectionOutcome, received: float) -> None:
        total_ms = (time.perf_counter() - received) * 1000.0
        fields, roi = result_fields(outcome, total_ms)
        result = InspectionResult(header=ros_header(header), roi=RegionOfInterest(**roi),
                                  **fields)
        low = self.config.is_low_confidence(outcome)    # the reject policy's rule
        # Count before publishing: a diagnostics timer firing in between on another executor
        # thread must not report fewer results than subscribers have already received.
        self._stats.record(outcome.status, total_ms, outcome.times.inference_ms or None,
                           low, outcome.detail)
        self._results.publish(result)

    def _publish_overlay(self, overlay, header, bgr, outcome: InspectionOutcome) -> None:
        canvas = draw_overlay(bgr, outcome, self._stats.fps(),
                              low_confidence=self.config.is_low_confidence(outcome))
        overlay.publish(image_bytes(header, canvas))    # serialized by rosbags
        self._overlays_published += 1

    # ---- diagnostics (in every state)

    def _publish_diagnostics(self) -> None:
        state = self.lifecycle_state
        snap = self._stats.snapshot()
        holder, config = self._holder, self.config
        if state == 'active' and config is not None:
            level, message = diagnostic_level(snap, config.thresholds)
        else:
            error = self._activate_error or self.configure_error
            level = LEVEL_ERROR if error else LEVEL_WARN
            message = f'{state}: not inspecting images' + (f'; {error}' if error else '')
        values = {'lifecycle_state': state, 'overlays_published': str(self._overlays_published)}
        # Buffers without a readable header (no frame to answer), since the last activation.
        values['unreadable_images'] = str(getattr(self._image_subscriptions, 'unreadable', 0))
        batcher = getattr(self._intake, 'batcher', None)
        if batcher is not None:   # a station: parts short of a camera at the window, late frames
            values.update(partial_batches=str(batcher.partial_batches),
                          late_camera_frames=str(batcher.late_frames))
        if holder is not None:
            pipeline = holder.current
            values.update(backend=pipeline.engine.backend, model_id=pipeline.model_id,
                          provider=pipeline.engine.active_provider)
        values.update({k: f'{v:.2f}' if isinstance(v, float) else str(v)
                       for k, v in dataclasses.asdict(snap).items()})
        publish_status(self, self._diagnostics, 'inspection', level, message,
                       values.get('model_id', ''), values)


def main(args=None) -> int:
    """Run inference_node until shutdown; return the exit status (acnn_ros.nodes.node_main)."""
    # Ctrl-C leaves the context valid until the shutdown transition has answered the frames in
    # hand (acnn_ros.nodes.clean_shutdown).
    return run_node('inference_node', InferenceNode, args, run=spin_until_interrupted,
                    configuration_errors=(EngineError,))


if __name__ == '__main__':
    raise SystemExit(main())
