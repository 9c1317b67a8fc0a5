# SPDX-License-Identifier: Apache-2.0
"""
One camera of a 3-camera station for test_inference_station: an image for every part.

Arguments: the camera name, then one delay per part id from 1, seconds. For each PartTrigger on
`part` it publishes on `<camera>/image` a 640x480 bgr8 Image with the trigger's stamp and its
own name as frame_id, that many seconds after the trigger (a late camera). It exits after the
last planned part (or after 60 s). Prints `SENT <part id> <delay>` per image.
"""
import sys
import time

from acnn_ros.msg import PartTrigger
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from sensor_msgs.msg import Image

WIDTH, HEIGHT = 640, 480


def main():
    camera, delays = sys.argv[1], [float(d) for d in sys.argv[2:]]
    client = RosClient(f'station_{camera}')
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    images = client.node.create_publisher(Image, f'{camera}/image', reliable)
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[200:280, 280:360] = (0, 0, 255)
    due = []             # (time to publish, part id, header)
    sent = []

    def on_part(trigger: PartTrigger) -> None:
        delay = delays[trigger.part_id - 1] if trigger.part_id <= len(delays) else 0.0
        due.append((time.monotonic() + delay, trigger.part_id, trigger.header))

    def publish_due() -> bool:
        now = time.monotonic()
        for entry in [e for e in due if e[0] <= now]:
            due.remove(entry)
            _, part_id, header = entry
            image = Image(height=HEIGHT, width=WIDTH, encoding='bgr8', step=WIDTH * 3,
                          data=pixels.tobytes())
            image.header.stamp, image.header.frame_id = header.stamp, camera
            images.publish(image)
            sent.append(part_id)
            print('SENT', part_id, delays[part_id - 1], flush=True)
        return len(delays) in sent

    client.node.create_subscription(PartTrigger, 'part', on_part, reliable)
    print('READY', camera, flush=True)
    client.spin_until(publish_due, 60)
    client.spin_for(0.5)
    client.close()


if __name__ == '__main__':
    main()
