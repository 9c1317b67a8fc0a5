# SPDX-License-Identifier: Apache-2.0
"""
`acnn demo --vision-system 0`: the whole line exposed as an OPC UA for Machine Vision server.

The demo prints the endpoint of vision_system_node (its own process, the demo's namespace);
an asyncua client sees the vision system Operational while the line runs and one
ResultReadyEvent per part with continuous ids, the last id the number of parts decided.
"""
import asyncio
import re
import sys
import time

from acnn_ros.core.vision_system.address_space import NAMESPACE_URI, RESULT_READY_EVENT_TYPE
from asyncua import ua
import pytest
from ros_processes import NodeProcess, REPO_DIR
from vision_system_support import Events, opcua_client

FRAMES = 60

pytestmark = pytest.mark.timeout(240)


async def watch(endpoint, demo):
    """Subscribe to results; return (states seen, events) once the demo ended."""
    async with opcua_client(endpoint) as client:
        await client.load_data_type_definitions()
        index = await client.get_namespace_index(NAMESPACE_URI)
        state = client.get_node(ua.NodeId('VisionSystem.VisionStateMachine.CurrentState', index))
        ready = Events()
        subscription = await client.create_subscription(20, ready)
        await subscription.subscribe_events(client.nodes.server,
                                            ua.NodeId(RESULT_READY_EVENT_TYPE, index))
        states = set()
        while demo.process.poll() is None and 'max_frames=' not in demo.output:
            states.add((await state.read_value()).Text)
            await asyncio.sleep(0.1)
        end = time.monotonic() + 10.0
        while len(ready.received) < FRAMES and time.monotonic() < end:
            await asyncio.sleep(0.1)
        return states, list(ready.received)


def test_demo_serves_the_vision_system_with_every_part(own_domain_env):
    demo = NodeProcess([sys.executable, '-m', 'acnn_ros.cli', 'demo', '--frames', str(FRAMES),
                        '--plc', 'none', '--vision-system', '0', '--quiet'], cwd=REPO_DIR,
                       environ=own_domain_env)
    try:
        line = demo.wait_for_line('OPC UA vision system (OPC 40100-1): opc.tcp://', 90)
        assert line, demo.output
        endpoint = re.search(r'(opc\.tcp://127\.0\.0\.1:\d+/\S*)', line).group(1)
        states, events = asyncio.run(watch(endpoint, demo))
        assert demo.wait(180) == 0, demo.output
    finally:
        demo.kill()
    assert 'result: PASS' in demo.output
    # The node says what it served before it stops: every part (the demo holds the line until
    # the node's subscriptions matched the line's publishers).
    assert f'OPC UA vision system: {FRAMES} results served (the last: part {FRAMES})' in \
        demo.output, demo.output
    assert 'Operational' in states, states
    # The client subscribes while the line starts: the first part or two may come before it.
    # From the first event on, every result, ids without gaps, the last one the demo's last.
    result_ids = [int(e.ResultId.Id) for e in events]
    parts = [int(e.PartId.Id) for e in events]
    assert result_ids and result_ids[0] <= 5, demo.output
    assert result_ids == list(range(result_ids[0], FRAMES + 1)), (result_ids, demo.output)
    assert len(set(parts)) == len(parts) and set(parts) <= set(range(1, FRAMES + 1))
