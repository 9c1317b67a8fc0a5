# SPDX-License-Identifier: Apache-2.0
"""
The rclpy message class of a ROS type name (`sensor_msgs/msg/Image`), for the bag nodes.

rosidl_runtime_py.utilities.get_message does this on a full ROS 2 install, but it has no wheel
for this project's environment; the bag player and the recorder share this one lookup instead.
"""
import importlib


def message_class(msgtype: str):
    """Return the message class of `package/msg/Name`; ValueError for another form."""
    package, interface, name = (msgtype.split('/') + ['', ''])[:3]
    if interface != 'msg' or not package or not name or msgtype.count('/') != 2:
        raise ValueError(f'not a message type name (package/msg/Name): {msgtype!r}')
    return getattr(importlib.import_module(f'{package}.msg'), name)
