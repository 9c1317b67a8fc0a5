# SPDX-License-Identifier: Apache-2.0
"""
Under overload inference_node answers every frame exactly once: inspected or DROPPED.

A deliberately slow model (about 25 ms per frame here) and a burst of frames published as fast
as DDS takes them: the node must not queue them all, and must not lose any.
"""

from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from contract_model import blob_frame, export_contract_model
from inference_node_client import InferenceClient, start_inference_node
import pytest

pytestmark = pytest.mark.timeout(60)
BURST = 40


@pytest.fixture(scope='module')
def node(tmp_path_factory):
    model = export_contract_model(tmp_path_factory.mktemp('slow_model'), stem='slow',
                                  slow_layers=3)
    process = start_inference_node({'model_path': str(model), 'image_qos': 'reliable',
                                    'image_qos_depth': str(BURST), 'diagnostics_period_s': '0.5',
                                    'intra_op_threads': '1', 'warmup_runs': '1'})
    assert process.wait_for_log('inspecting raw images'), process.output
    yield process
    assert process.interrupt(timeout_s=10.0) == 0, process.output


@pytest.fixture(scope='module')
def client(node):
    ros = InferenceClient('overload_test_client', model_prefix='slow@')
    assert ros.wait_connected(), node.output
    yield ros
    ros.close()


def test_a_burst_gets_exactly_one_result_per_frame_some_dropped(node, client):
    frame = blob_frame(640, 480, 320, 240, 'red')
    keys = [client.publish_bgr(frame) for _ in range(BURST)]
    assert client.spin_until(lambda: len(client.results) >= BURST, timeout_s=20), \
        f'{len(client.results)} results for {BURST} frames\n{node.output}'
    client.spin_for(1.0)  # anything extra (a duplicate) would arrive now
    got = [frame_key(r.header) for r in client.results]
    assert sorted(got) == sorted(keys)  # every frame once, no duplicates, headers verbatim
    statuses = [r.status for r in client.results]
    dropped = statuses.count(InspectionResult.STATUS_DROPPED)
    inspected = statuses.count(InspectionResult.STATUS_OK)
    assert dropped > 0 and inspected > 0 and dropped + inspected == BURST, statuses
    assert all(r.detail.startswith('dropped') for r in client.results
               if r.status == InspectionResult.STATUS_DROPPED)
    # The newest frame is never the one dropped: it is what the engine works on last.
    last = [r for r in client.results if frame_key(r.header) == keys[-1]][0]
    assert last.status == InspectionResult.STATUS_OK


def test_drops_are_counted_in_diagnostics_and_turn_them_warn(node, client):
    def counts(status):
        values = {v.key: v.value for v in status.values}
        return int(values['total_dropped']), int(values['total_ok'])
    # Diagnostics are periodic: wait for one that has counted the whole burst.
    status = client.latest_status(after=0, until=lambda s: sum(counts(s)) >= BURST)
    assert status is not None
    values = {v.key: v.value for v in status.values}
    assert int(values['total_dropped']) > 0
    assert int(values['total_dropped']) + int(values['total_ok']) >= BURST
    warned = [a.status[0] for a in client.diagnostics
              if a.status and a.status[0].hardware_id.startswith('slow@')
              and 'dropped (overload)' in a.status[0].message]
    assert warned and all(s.level[0] >= 1 for s in warned)
