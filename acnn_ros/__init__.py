# SPDX-License-Identifier: Apache-2.0
"""A-CNN automated optical inspection of small objects, for ROS 2."""
import pkgutil

# The generated acnn_ros.msg / acnn_ros.srv exist only in the colcon-installed copy of this
# package (whose __init__.py is the generated, empty one). This source copy is found first when
# Python runs from the checkout (python -m, tests); extend_path lets it find them there too.
__path__ = pkgutil.extend_path(__path__, __name__)
