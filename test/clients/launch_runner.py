# SPDX-License-Identifier: Apache-2.0
"""
Client of test_launch: runs a launch file with launch.LaunchService, like `ros2 launch`.

Arguments: the launch file and the params file; the line starts with a synthetic camera in the
namespace `launch_test`. Exits with the launch service's status.
"""
import sys

import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def main(argv):
    service = launch.LaunchService()
    service.include_launch_description(launch.LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(argv[1]),
        launch_arguments=[('camera_source', 'synthetic'), ('namespace', 'launch_test'),
                          ('params_file', argv[2])])]))
    return service.run()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
