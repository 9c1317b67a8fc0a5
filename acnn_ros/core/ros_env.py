# SPDX-License-Identifier: Apache-2.0
"""DDS environment defaults applied by every entry point before ROS is initialised."""
import os
from typing import Dict, List, MutableMapping, Optional

DISCOVERY_RANGE_VAR = 'ROS_AUTOMATIC_DISCOVERY_RANGE'
DOMAIN_ID_VAR = 'ROS_DOMAIN_ID'
DEFAULT_DOMAIN_ID = 42


def ensure_local_dds(environ: Optional[MutableMapping[str, str]] = None,
                     domain_id: Optional[int] = None) -> List[str]:
    """
    Keep DDS discovery on loopback and on a domain of our own unless the user chose.

    Fast DDS multicasts discovery out of every interface by default. A vision PC on a line
    network must not do that unless its integrator asks for it (ROS_AUTOMATIC_DISCOVERY_RANGE=
    SUBNET, or ROS_STATIC_PEERS), so LOCALHOST is the default here. Returns the variables set,
    for the caller to log.
    """
    env = os.environ if environ is None else environ
    changed = []
    if not env.get(DISCOVERY_RANGE_VAR) and not env.get('ROS_STATIC_PEERS'):
        env[DISCOVERY_RANGE_VAR] = 'LOCALHOST'
        changed.append(f'{DISCOVERY_RANGE_VAR}=LOCALHOST')
    if not env.get(DOMAIN_ID_VAR):
        env[DOMAIN_ID_VAR] = str(DEFAULT_DOMAIN_ID if domain_id is None else domain_id)
        changed.append(f'{DOMAIN_ID_VAR}={env[DOMAIN_ID_VAR]}')
    return changed


def describe_dds(environ: Optional[Dict[str, str]] = None) -> str:
    """One line saying where DDS traffic goes, for start-up logs."""
    env = os.environ if environ is None else environ
    return (f'DDS: {DISCOVERY_RANGE_VAR}={env.get(DISCOVERY_RANGE_VAR, "(unset)")} '
            f'{DOMAIN_ID_VAR}={env.get(DOMAIN_ID_VAR, "(unset)")}')
