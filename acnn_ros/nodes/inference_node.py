# SPDX-License-Identifier: Apache-2.0
"""inference_node: camera images in, one acnn_ros/InspectionResult per image out."""
import array
import dataclasses
import threading
import time

from acnn_ros.core.messages import inspect_image_message, result_fields
from acnn_ros.core.overlay import draw_overlay
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import InspectionResult
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from acnn_ros.runtime.frame_slot import LatestFrameSlot
from acnn_ros.runtime.inference_config import (ConfigError, InferenceConfig, PARAMETER_SPECS,
                                               resolve_model_path)
from acnn_ros.runtime.pipeline import EngineError, InspectionPipeline, ModelCardError, \
    PipelineHolder
from acnn_ros.runtime.stats import diagnostic_level, InferenceStats
from acnn_ros.srv import LoadModel
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

DROPPED_DETAIL = 'dropped: a newer frame arrived while the engine was busy'


class InferenceNode(Node):
    """Run the A-CNN on every image; publish verdicts, overlay and diagnostics."""

    def __init__(self, **kwargs):
        super().__init__('inference_node', **kwargs)
        self.config = InferenceConfig.from_values(declare_parameters(self, PARAMETER_SPECS))
        model_path = resolve_model_path(self.config.model_path)
        self._holder = PipelineHolder(InspectionPipeline.from_model_path(
            model_path, **self.config.pipeline_options()))
        self._log_model('loaded', self._holder.current)
        self._stats = InferenceStats()
        self._slot = LatestFrameSlot()
        self._overlays_published = 0
        self._results = self.create_publisher(InspectionResult, 'inspection', QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE))
        # Reliable (shallow) so that rviz and best-effort viewers can both subscribe.
        self._overlay = self.create_publisher(Image, '~/overlay', QoSProfile(
            depth=2, reliability=ReliabilityPolicy.RELIABLE))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        qos = QoSProfile(depth=self.config.image_qos_depth, reliability=(
            ReliabilityPolicy.BEST_EFFORT if self.config.image_qos == 'sensor_data'
            else ReliabilityPolicy.RELIABLE))
        if self.config.image_transport in ('raw', 'both'):
            self.create_subscription(Image, 'image', self._on_image, qos)
        if self.config.image_transport in ('compressed', 'both'):
            self.create_subscription(CompressedImage, 'image/compressed', self._on_image, qos)
        self.create_service(LoadModel, '~/load_model', self._on_load_model,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.add_on_set_parameters_callback(self._on_parameters)
        self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name='inference_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(f'inspecting {self.config.image_transport} images from '
                               f'{self.resolve_topic_name("image")}; {describe_dds()}')

    def _log_model(self, verb: str, pipeline: InspectionPipeline) -> None:
        self.get_logger().info(f'{verb} model {pipeline.model_id} from {pipeline.model_path} '
                               f'classes [{", ".join(pipeline.class_names)}]; '
                               f'{pipeline.provider_report}')
        for warning in pipeline.warnings:
            self.get_logger().warning(warning)

    def _on_image(self, msg) -> None:
        displaced = self._slot.put((msg, time.perf_counter()))
        if displaced is not None:
            self._publish(displaced[0].header, InspectionOutcome.dropped(
                DROPPED_DETAIL, self._holder.current.model_id), displaced[1])

    def _work(self) -> None:
        while not self._slot.closed:
            frame = self._slot.take(timeout_s=0.2)
            if frame is None:
                continue
            msg, received = frame
            pipeline = self._holder.current  # this frame uses this model to the end
            try:
                outcome, bgr = inspect_image_message(pipeline, msg)
            except Exception as exc:  # a bug must cost one frame, not the worker thread
                outcome, bgr = InspectionOutcome.error(f'internal error: {exc!r}',
                                                       pipeline.model_id), None
            if outcome.status == InspectionStatus.ERROR:
                stamp = msg.header.stamp
                self.get_logger().warning(
                    f'frame {msg.header.frame_id} {stamp.sec}.{stamp.nanosec:09d}: '
                    f'{outcome.detail}', throttle_duration_sec=5.0)
            if not self.context.ok():
                break
            self._publish(msg.header, outcome, received)
            if bgr is not None and self._overlay.get_subscription_count() > 0:
                try:
                    self._publish_overlay(msg.header, bgr, outcome)
                except Exception as exc:  # the verdict is out; the overlay is best effort
                    self.get_logger().error(f'overlay failed: {exc!r}',
                                            throttle_duration_sec=5.0)

    def _publish(self, header, outcome: InspectionOutcome, received: float) -> None:
        total_ms = (time.perf_counter() - received) * 1000.0
        fields, roi = result_fields(outcome, total_ms)
        result = InspectionResult(header=header, roi=RegionOfInterest(**roi), **fields)
        low = outcome.status == InspectionStatus.OK and \
            outcome.confidence < self.config.min_confidence
        # Count before publishing: a diagnostics timer firing in between on another executor
        # thread must not report fewer results than subscribers have already received.
        self._stats.record(outcome.status, total_ms, outcome.times.inference_ms or None,
                           low, outcome.detail)
        self._results.publish(result)

    def _publish_overlay(self, header, bgr, outcome: InspectionOutcome) -> None:
        canvas = draw_overlay(bgr, outcome, self._stats.fps(), self.config.min_confidence)
        self._overlay.publish(Image(header=header, height=canvas.shape[0],
                                    width=canvas.shape[1], encoding='bgr8',
                                    step=canvas.strides[0],
                                    data=array.array('B', canvas.tobytes())))
        self._overlays_published += 1

    def _on_load_model(self, request, response):
        old = self._holder.current
        try:
            path = resolve_model_path(request.model_path)
            options = self.config.pipeline_options()
            options['class_names'] = list(request.class_names) or None
            new, _ = self._holder.load(path, **options)
        except (ConfigError, ModelCardError, EngineError, ValueError) as exc:
            response.success = False
            response.message = f'load failed, still using {old.model_id}: {exc}'
            self.get_logger().error(f'model changeover: {response.message}')
            return response
        self._log_model(f'model changeover: replaced {old.model_id}; loaded', new)
        response.success = True
        response.message = f'{new.model_id} [{", ".join(new.class_names)}]; {new.provider_report}'
        return response

    def _on_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters}
        try:
            config = InferenceConfig.from_values({**dataclasses.asdict(self.config), **changes})
            if 'class_names' in changes:
                self._holder.set_class_names(config.class_names or None)
                self._log_model('class names changed;', self._holder.current)
        except (ConfigError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = config
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        snap = self._stats.snapshot()
        level, message = diagnostic_level(snap, self.config.thresholds)
        pipeline = self._holder.current
        values = {'backend': pipeline.engine.backend,
                  'provider': pipeline.engine.active_provider, 'model_id': pipeline.model_id,
                  'overlays_published': str(self._overlays_published),
                  **{k: f'{v:.2f}' if isinstance(v, float) else str(v)
                     for k, v in dataclasses.asdict(snap).items()}}
        status = DiagnosticStatus(level=bytes([level]), name=f'{self.get_name()}: inspection',
                                  message=message, hardware_id=pipeline.model_id,
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diagnostics.publish(DiagnosticArray(
            header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def destroy_node(self):
        """Stop the worker; a frame still waiting gets its DROPPED result first."""
        pending = self._slot.close() if hasattr(self, '_slot') else None
        if pending is not None and self.context.ok():
            self._publish(pending[0].header, InspectionOutcome.dropped(
                'dropped: node shutting down', self._holder.current.model_id), pending[1])
        if hasattr(self, '_worker'):
            self._worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> int:
    """Run inference_node until shutdown; return the exit status (acnn_ros.nodes.node_main)."""
    def spin_two_threads(node) -> int:
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
        return 0
    return run_node('inference_node', InferenceNode, args, run=spin_two_threads,
                    configuration_errors=(EngineError,))


if __name__ == '__main__':
    raise SystemExit(main())
