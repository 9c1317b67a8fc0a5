# SPDX-License-Identifier: Apache-2.0
"""The config of result_recorder_node: its dataclass (every default once) and parameter specs."""
from dataclasses import dataclass
import time
from typing import Optional, Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.replay.player import ReplayConfigError

STORAGES = ('sqlite3', 'mcap')


@dataclass(frozen=True)
class ResultRecorderConfig:
    """Parameters of result_recorder_node, read once at start-up."""

    bag_path: str = ''                      # '' -> acnn_results_<UTC time> in the working dir
    storage: str = 'sqlite3'
    topics: Tuple[str, ...] = ('inspection', 'reject', 'part')
    record_image: bool = False
    image_topic: str = 'image'

    def __post_init__(self):
        if self.storage not in STORAGES:
            raise ReplayConfigError(f'storage must be one of {STORAGES}, got {self.storage!r}')
        if not self.topics and not self.record_image:
            raise ReplayConfigError('nothing to record: topics is empty and record_image false')

    @property
    def all_topics(self) -> Tuple[str, ...]:
        """Return the topics to record, image topic included when asked."""
        return self.topics + ((self.image_topic,) if self.record_image else ())

    def resolved_bag_path(self, now: Optional[float] = None) -> str:
        """Return bag_path, or a fresh time-stamped name when it is empty."""
        if self.bag_path:
            return self.bag_path
        return time.strftime('acnn_results_%Y%m%d_%H%M%S', time.gmtime(now))


def _recorder(name: str, description: str) -> ParameterSpec:
    return field_spec(ResultRecorderConfig, name, description)


# result_recorder_node parameters; defaults are those of ResultRecorderConfig.
RECORDER_PARAMETERS: Tuple[ParameterSpec, ...] = (
    _recorder('bag_path', "bag directory to create; '': acnn_results_<UTC time> in the working "
              'directory'),
    _recorder('storage', f'rosbag2 storage: {" | ".join(STORAGES)}'),
    _recorder('topics', 'topics to record (relative names are resolved in the node namespace)'),
    _recorder('record_image', 'also record the image topic (large: 0.9 MB per 640x480 bgr8 '
              'frame); subscribed reliable when its publishers offer it, like ros2 bag record'),
    _recorder('image_topic', 'image topic recorded when record_image is true'),
)
