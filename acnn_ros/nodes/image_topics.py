# SPDX-License-Identifier: Apache-2.0
"""
The image topics of the nodes: serialized subscriptions and publications of camera images.

Images go on the wire without rclpy's message conversion. A subscription created here is an
rclpy `raw=True` subscription of sensor_msgs/Image or CompressedImage: rclpy hands over the CDR
bytes and `acnn_ros.core.image_cdr` turns them into the frame (rosbags dataclass, pixels a numpy
view), several times faster than rclpy's own deserialization. Publishers stay ordinary
(lifecycle) publishers of the message type; they are given the CDR bytes
(`publisher.publish(image_bytes(...))`), which rclpy sends as they are. The topic type, QoS and
the bytes on the wire are those of sensor_msgs, so plain rclpy (or C++) publishers and
subscribers on the other side interoperate (the ROS image_transport package is not used).
"""
from typing import Callable, Optional

from acnn_ros.core.image_cdr import (array_image_cdr, image_from_cdr, ImageWireError,
                                     UnreadableImage)
from acnn_ros.core.messages import COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, stamp_ns
from builtin_interfaces.msg import Time
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

WIRE_TYPES = {Image: IMAGE_TYPE, CompressedImage: COMPRESSED_IMAGE_TYPE}


def ros_header(header) -> Header:
    """Return an rclpy std_msgs/Header equal to any header (rclpy's returned as it is)."""
    if isinstance(header, Header):
        return header
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=str(header.frame_id))


class ImageSubscriptions(list):
    """The image subscriptions of a node (a list) and the count of unreadable buffers."""

    unreadable = 0


def subscribe_images(node, transport: str, callback: Callable, qos, topic: str = 'image',
                     subscriptions: Optional[ImageSubscriptions] = None,
                     **kwargs) -> ImageSubscriptions:
    """
    Subscribe to serialized `image` (Image) and / or `image/compressed` (CompressedImage).

    `topic` names another image topic (`<topic>/compressed`), e.g. one camera's of a station;
    the subscriptions are added to `subscriptions` (one count of unreadable buffers) if given.

    `transport` is 'raw', 'compressed' or 'both'. `callback(frame)` gets each frame
    deserialized by core/image_cdr. A buffer that does not deserialize but starts with a
    header becomes an `UnreadableImage` for the callback (core/messages inspects it as an ERROR
    with the reason), so the frame is still answered; one without a readable header cannot be
    answered (no frame identity): it is logged and counted (`.unreadable`). Other keyword
    arguments go to rclpy's create_subscription.
    """
    subscriptions = ImageSubscriptions() if subscriptions is None else subscriptions

    def receiver(msgtype: str) -> Callable[[bytes], None]:
        def receive(raw: bytes) -> None:
            try:
                frame = image_from_cdr(raw, msgtype)
            except ImageWireError as exc:
                if exc.header is None:
                    subscriptions.unreadable += 1
                    node.get_logger().error(
                        f'{exc} (no header: the frame cannot be answered; '
                        f'{subscriptions.unreadable} so far)', throttle_duration_sec=5.0)
                    return
                frame = UnreadableImage(exc.header, str(exc))
            callback(frame)
        return receive

    for msg_class, name in ((Image, topic), (CompressedImage, f'{topic}/compressed')):
        if transport in ('both', 'raw' if msg_class is Image else 'compressed'):
            subscriptions.append(node.create_subscription(
                msg_class, name, receiver(WIRE_TYPES[msg_class]), qos, raw=True, **kwargs))
    return subscriptions


def image_bytes(header, pixels: np.ndarray, encoding: str = 'bgr8') -> bytes:
    """Return the serialized sensor_msgs/Image of an 8-bit array with this header."""
    return array_image_cdr(pixels, encoding, stamp_ns(header.stamp), header.frame_id)
