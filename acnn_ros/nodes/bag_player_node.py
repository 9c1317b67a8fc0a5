# SPDX-License-Identifier: Apache-2.0
"""
bag_player_node: play a rosbag2's image topic(s) into the running graph, then exit.

Like `ros2 bag play`, it publishes the recorded CDR bytes on the recorded topic names (without
the leading '/', so a namespace or remap applies) with the recorded reliability. Pace:
`original` (recorded spacing / rate), `fast` (no waiting) or `lockstep` (the next frame goes
out when the `inspection` result of the previous one arrived, or after result_timeout_s: as
fast as the graph keeps up, without drops). Optionally publishes an acnn_ros/PartTrigger per
frame on `part` (part id = frame number + 1) so the reject actuator can join, and restamps
headers to the current time. Logs (and optionally writes as JSON) what happened at the end.
"""
import json
import sys
import threading
import time

from acnn_ros.core.image_cdr import message_cdr
from acnn_ros.core.messages import frame_key, header_fields
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.player import (BagPlayerConfig, PLAYER_PARAMETERS, ReplayPacer,
                                         ResultWaiter)
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import InspectionResult, PartTrigger
from acnn_ros.nodes.acknowledgements import wait_for_acknowledgements
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS, PER_PART_QOS
from acnn_ros.nodes.message_types import message_class
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from builtin_interfaces.msg import Time
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from std_msgs.msg import Header


class BagPlayerNode(Node):
    """Publishes a bag's frames, waits for their results in lockstep, then completes `done`."""

    def __init__(self, **kwargs):
        super().__init__('bag_player_node', **kwargs)
        self._stop, self._thread = threading.Event(), None
        values = declare_parameters(self, PLAYER_PARAMETERS)
        values['image_topics'] = tuple(t for t in values['image_topics'] if t)
        self.config = BagPlayerConfig(**values)
        topics = bag_io.bag_topics(self.config.bag_path)
        played = [bag_io.select_image_topic(self.config.bag_path, t)
                  for t in self.config.image_topics] or bag_io.image_topics(self.config.bag_path)
        if not played:
            raise bag_io.BagError(f'{self.config.bag_path} has no image topic to play')
        self.inspected_topic = played[0]
        self.waiter = ResultWaiter()
        self.error = ''
        self.done = Future()
        self._image_pubs = {}
        for topic in played:
            info = topics[topic]
            reliable = {'reliable': True, 'best_effort': False}.get(
                self.config.qos_reliability, info.reliable)
            qos = QoSProfile(depth=self.config.qos_depth, reliability=(
                ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT),
                durability=DurabilityPolicy.VOLATILE)
            self._image_pubs[topic] = self.create_publisher(
                message_class(info.msgtype), topic.lstrip('/'), qos)
        self._part_pub = (self.create_publisher(PartTrigger, 'part', PER_PART_PUBLISHER_QOS)
                          if self.config.publish_part_triggers else None)
        subscription = self.create_subscription(InspectionResult, 'inspection', self._on_result,
                                                PER_PART_QOS)
        self._result_topic = subscription.topic_name
        self._finished = self.create_guard_condition(self._on_finished)
        self._thread = threading.Thread(target=self._play, name='bag_player', daemon=True)
        self.get_logger().info(
            f'playing {", ".join(played)} of {self.config.bag_path} ({self.config.pace} pace'
            f'{f" x{self.config.rate:g}" if self.config.pace == "original" else ""}), results on '
            f'{self.resolve_topic_name("inspection")}; {describe_dds()}')
        self._thread.start()

    def _on_result(self, msg: InspectionResult):
        self.waiter.deliver(frame_key(msg.header), msg.status)

    def _graph_ready(self) -> bool:
        publisher = self._image_pubs[self.inspected_topic]
        # Lockstep needs the inspecting node: a subscriber of the frames and a result publisher;
        # part triggers need their consumer (the reject actuator) before the first part.
        return publisher.get_subscription_count() >= self.config.min_image_subscribers and (
            self.config.pace != 'lockstep' or self.count_publishers(self._result_topic) > 0) \
            and (self._part_pub is None or self._part_pub.get_subscription_count()
                 >= self.config.min_part_subscribers)

    def _wait_for_subscribers(self):
        deadline = time.monotonic() + self.config.wait_for_subscribers_s
        while not self._graph_ready() and time.monotonic() < deadline:
            if self._stop.wait(0.05):
                return
        if not self._graph_ready():
            missing = f'subscriber on {self._image_pubs[self.inspected_topic].topic_name}'
            if self.config.pace == 'lockstep':
                missing += f' or publisher on {self._result_topic}'
            if self._part_pub is not None:
                missing += f' or subscriber on {self._part_pub.topic_name}'
            self.get_logger().warning(f'no {missing} after {self.config.wait_for_subscribers_s}'
                                      ' s: playing anyway')
        else:
            # Discovery completes per endpoint pair: give the far side time to match us too.
            self._stop.wait(0.5)

    def _play(self):
        cfg, pacer = self.config, ReplayPacer(self.config.pace, self.config.rate)
        try:
            self._wait_for_subscribers()
            for message in bag_io.iter_messages(cfg.bag_path, list(self._image_pubs)):
                if not pacer.wait(message.log_time_ns, self._stop) or \
                        (cfg.max_frames and self.waiter.stats.published >= cfg.max_frames):
                    break
                raw, header = message.raw, message.msg.header
                if cfg.restamp:
                    header.stamp = bag_io.stamp_message(time.time_ns())
                    raw = message_cdr(message.msg, message.msgtype)   # image types only
                if message.topic != self.inspected_topic:
                    self._image_pubs[message.topic].publish(raw)
                    self.waiter.stats.other_messages += 1
                    continue
                key = frame_key(header)
                self.waiter.expect(key)
                if self._part_pub is not None:
                    stamp, frame_id = header_fields(key)
                    self._part_pub.publish(PartTrigger(
                        header=Header(stamp=Time(**stamp), frame_id=frame_id),
                        part_id=self.waiter.stats.published))
                self._image_pubs[message.topic].publish(raw)
                if cfg.pace == 'lockstep' and not self.waiter.wait(key, cfg.result_timeout_s):
                    self.get_logger().warning(f'no result for frame {key} within '
                                              f'{cfg.result_timeout_s} s')
            self.waiter.wait_all(cfg.result_timeout_s)
            # Exiting drops what reliable subscribers (recorder, actuator) have not acked yet.
            for publisher in list(self._image_pubs.values()) + [self._part_pub]:
                if publisher is not None and wait_for_acknowledgements(
                        [publisher], cfg.result_timeout_s):
                    self.get_logger().warning(f'not every subscriber of {publisher.topic_name}'
                                              ' acknowledged all messages')
        except Exception as exc:  # report any failure, then end the node cleanly
            self.get_logger().error(f'replay failed: {exc}')
            self.error = str(exc)
        self._finished.trigger()

    def _on_finished(self):
        stats = self.waiter.finish()
        self.get_logger().info(f'replay finished: {json.dumps(stats.as_dict())}')
        if self.config.summary_path:
            with open(self.config.summary_path, 'w', encoding='utf-8') as stream:
                json.dump(dict(stats.as_dict(), error=self.error), stream)
        if not self.done.done():
            self.done.set_result(stats)

    def destroy_node(self):
        """Stop the playback thread, then the node."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> int:
    """Play the bag until its end (or shutdown); return the exit status (nodes.node_main)."""
    def play(node) -> int:
        rclpy.spin_until_future_complete(node, node.done)
        return 1 if node.error else 0
    return run_node('bag_player_node', BagPlayerNode, args, run=play,
                    configuration_errors=(bag_io.BagError,))


if __name__ == '__main__':
    sys.exit(main())
