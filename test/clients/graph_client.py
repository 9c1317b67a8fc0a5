# SPDX-License-Identifier: Apache-2.0
"""
Client of test_ros_environment: lists the ROS graph until it sees a node.

Arguments: the node's full name (`/namespace/name`) and how long to look, in seconds. Prints
`SEEN [names]` with every node it saw last.
"""
import sys

from ros_client import RosClient


def main(argv):
    wanted, wait_s = argv[1], float(argv[2])
    client = RosClient('graph_client', spin_step_s=0.2)
    seen = []

    def found():
        seen[:] = [ns.rstrip('/') + '/' + name
                   for name, ns in client.node.get_node_names_and_namespaces()]
        return wanted in seen
    client.spin_until(found, wait_s)
    print('SEEN', sorted(seen), flush=True)
    client.close()


if __name__ == '__main__':
    main(sys.argv)
