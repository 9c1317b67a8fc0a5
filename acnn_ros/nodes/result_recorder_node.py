# SPDX-License-Identifier: Apache-2.0
"""
result_recorder_node: record the line's verdicts (and optionally its images) into a rosbag2.

Subscribes to `inspection`, `reject`, `part` (and `image` with record_image) and writes the
received CDR bytes, stamped with the reception time, into a rosbag2 (sqlite3 or mcap) with
`rosbags`, the way `ros2 bag record` does: absolute topic names, type hashes, message
definitions and the offered QoS of the publishers. The bag is closed (metadata.yaml written)
when the node shuts down, Ctrl-C included, so a shift's bag holds frames and verdicts.
"""
import sys

from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.recorder_config import RECORDER_PARAMETERS, ResultRecorderConfig
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.nodes.message_types import message_class
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)

# Types of the topics this package publishes (by last name segment); others are discovered.
KNOWN_TYPES = {'inspection': bag_io.INSPECTION_RESULT_TYPE, 'reject': bag_io.REJECT_EVENT_TYPE,
               'part': bag_io.PART_TRIGGER_TYPE, 'counters': bag_io.LINE_COUNTERS_TYPE,
               'image': bag_io.IMAGE_TYPE, 'compressed': bag_io.COMPRESSED_IMAGE_TYPE}
_ENUMS = ((QosReliability, 'reliability'), (QosDurability, 'durability'),
          (QosLiveliness, 'liveliness'))


def _qos_time(duration) -> QosTime:
    nanoseconds = int(duration.nanoseconds)
    return QosTime(sec=nanoseconds // 10**9, nsec=nanoseconds % 10**9)


def offered_qos_of(profile) -> Qos:
    """Convert a discovered publisher QoS (rclpy) to the rosbags form rosbag2 records."""
    values = {name: enum_type(int(getattr(profile, name)))
              if int(getattr(profile, name)) in {e.value for e in enum_type}
              else enum_type.UNKNOWN for enum_type, name in _ENUMS}
    return Qos(history=QosHistory.UNKNOWN, depth=0, deadline=_qos_time(profile.deadline),
               lifespan=_qos_time(profile.lifespan),
               liveliness_lease_duration=_qos_time(profile.liveliness_lease_duration),
               avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
               **values)


class ResultRecorderNode(Node):
    """Writes every message of its topics into one bag, closed on shutdown."""

    def __init__(self, **kwargs):
        super().__init__('result_recorder_node', **kwargs)
        self.writer = None
        values = declare_parameters(self, RECORDER_PARAMETERS)
        values['topics'] = tuple(t for t in values['topics'] if t)
        self.config = ResultRecorderConfig(**values)
        self.bag_path = self.config.resolved_bag_path()
        self.writer = bag_io.BagWriter(self.bag_path, self.config.storage)
        # Topics waiting for a publisher: resolved name -> known type ('' = take the graph's).
        self._pending = {}
        for topic in self.config.all_topics:
            resolved = self.resolve_topic_name(topic)
            msgtype = KNOWN_TYPES.get(resolved.rsplit('/', 1)[-1], '')
            if topic == self.config.image_topic and self.config.record_image:
                msgtype = msgtype or bag_io.IMAGE_TYPE
            if msgtype and msgtype not in bag_io.IMAGE_TYPES:
                self._subscribe(resolved, msgtype, reliable=True)
            else:
                self._pending[resolved] = msgtype
        if self._pending:
            self._discovery = self.create_timer(0.1, self._discover)
        self.get_logger().info(
            f'recording {", ".join(self.resolve_topic_name(t) for t in self.config.all_topics)}'
            f' to {self.bag_path} ({self.config.storage}); {describe_dds()}')

    def _discover(self):
        """Subscribe to waiting topics once a publisher shows, with QoS it offers (rosbag2)."""
        types = dict(self.get_topic_names_and_types())
        for name in list(self._pending):
            publishers = self.get_publishers_info_by_topic(name)
            if not publishers or not (self._pending[name] or types.get(name)):
                continue
            msgtype = self._pending.pop(name) or types[name][0]
            # Reliable only if every publisher offers it (else incompatible with some).
            reliable = all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                           for p in publishers)
            self._subscribe(name, msgtype, reliable)
        if not self._pending:
            self._discovery.cancel()

    def _subscribe(self, topic: str, msgtype: str, reliable: bool):
        msg_class = message_class(msgtype)
        if reliable:
            qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        else:
            qos = qos_profile_sensor_data
        self.create_subscription(msg_class, topic, lambda data: self._write(topic, msgtype, data),
                                 qos, raw=True)
        self.get_logger().info(f'subscribed to {topic} ({msgtype}, '
                               f'{"reliable" if reliable else "best effort"})')

    def _write(self, topic: str, msgtype: str, data: bytes):
        if self.writer is None:
            return
        if not self.writer.has_topic(topic):
            offered = [offered_qos_of(info.qos_profile)
                       for info in self.get_publishers_info_by_topic(topic)]
            self.writer.add_topic(topic, msgtype, offered or [bag_io.RELIABLE_QOS])
        self.writer.write_raw(topic, data, self.get_clock().now().nanoseconds)

    def close(self):
        """Close the bag (writes metadata.yaml); later messages are ignored."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()
            counts = ', '.join(f'{t}: {n}' for t, n in writer.counts.items()) or 'nothing'
            # After Ctrl-C the context is gone and /rosout with it: print instead.
            print(f'[result_recorder_node] closed {self.bag_path}: {counts}', file=sys.stderr,
                  flush=True)

    def destroy_node(self):
        """Close the bag, then the node."""
        self.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Record until shutdown (Ctrl-C / SIGTERM); return the exit status (nodes.node_main)."""
    return run_node('result_recorder_node', ResultRecorderNode, args,
                    configuration_errors=(bag_io.BagError,))


if __name__ == '__main__':
    sys.exit(main())
