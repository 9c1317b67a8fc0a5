# SPDX-License-Identifier: Apache-2.0
"""
Where DDS traffic goes, as the process's ROS environment says: one line for start-up logs.

The ROS environment is the user's: product code (nodes, `acnn` sub-commands, the demo) reads
these variables and never sets them. The project's own scripts (scripts/env.sh) and tests keep
DDS on loopback in a domain of their own.
"""
import os
from typing import Mapping, Optional

DOMAIN_ID_VAR = 'ROS_DOMAIN_ID'
# Iron and later (Jazzy, Kilted): LOCALHOST | SUBNET (the default) | SYSTEM_DEFAULT | OFF.
DISCOVERY_RANGE_VAR = 'ROS_AUTOMATIC_DISCOVERY_RANGE'
STATIC_PEERS_VAR = 'ROS_STATIC_PEERS'
# Humble's switch (no discovery range there): 1 keeps discovery on loopback.
LOCALHOST_ONLY_VAR = 'ROS_LOCALHOST_ONLY'


def describe_dds(environ: Optional[Mapping[str, str]] = None) -> str:
    """One line saying which DDS domain and discovery range are in force, defaults included."""
    env = os.environ if environ is None else environ
    parts = [f'{DOMAIN_ID_VAR}={env.get(DOMAIN_ID_VAR) or "0 (default)"}']
    if env.get('ROS_DISTRO') == 'humble':
        parts.append(f'{LOCALHOST_ONLY_VAR}={env.get(LOCALHOST_ONLY_VAR) or "0 (default)"}')
    else:
        parts.append(f'{DISCOVERY_RANGE_VAR}='
                     f'{env.get(DISCOVERY_RANGE_VAR) or "SUBNET (default)"}')
        if env.get(LOCALHOST_ONLY_VAR):
            parts.append(f'{LOCALHOST_ONLY_VAR}={env[LOCALHOST_ONLY_VAR]}')
    if env.get(STATIC_PEERS_VAR):
        parts.append(f'{STATIC_PEERS_VAR}={env[STATIC_PEERS_VAR]}')
    return 'DDS: ' + ' '.join(parts)
