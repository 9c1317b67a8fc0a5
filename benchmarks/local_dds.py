# SPDX-License-Identifier: Apache-2.0
"""The benchmarks' DDS set-up: on this machine's loopback, in a domain of their own."""
import os


def keep_dds_local(default_domain: int) -> None:
    """
    Keep DDS on loopback in `default_domain`, unless the caller's environment says otherwise.

    A project tool like scripts/env.sh: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and
    ROS_DOMAIN_ID are only set where they are unset, and child processes inherit them.
    """
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(default_domain))
