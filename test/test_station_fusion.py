# SPDX-License-Identifier: Apache-2.0
"""
A 3-camera station over real DDS: one RejectEvent per part, fused from the three views (issue 21).

reject_actuator_node (cameras cam0, cam1, cam2; fusion best_view; topic actuator) in its own
process; three camera processes (test/clients/station_camera.py) answer every PartTrigger with
their own InspectionResult (frame_id = camera, stamp = the trigger's); cam2 is dead for parts 3
and 5, cam1 errs on part 6; the trigger process (test/clients/station_client.py, frame_id
'station') prints the RejectEvents and the per-camera diagnostics.
"""
import json
import signal

from ros_processes import NodeProcess, REPO_DIR

GOOD, BAD = 'p3707', 'p1071'          # an accept and a reject class of config/inspect.yaml
CAMERAS = ('cam0', 'cam1', 'cam2')
PLANS = {
    'cam0': [f'{GOOD}:0.9', f'{BAD}:0.95', f'{GOOD}:0.9', f'{BAD}:0.3', f'{GOOD}:0.9',
             f'{GOOD}:0.9'],
    'cam1': [f'{GOOD}:0.9', f'{GOOD}:0.7', f'{GOOD}:0.9', f'{GOOD}:0.97', f'{GOOD}:0.9', 'error'],
    'cam2': [f'{GOOD}:0.8', f'{GOOD}:0.8', '-', f'{BAD}:0.35', '-', f'{GOOD}:0.9'],
}
# RejectEvent: DECISION_ACCEPT 0 / REJECT 1; REASON_REJECT_CLASS 1, ERROR_RESULT 4, NO_RESULT 6.
# ViewResult.STATUS_OK 0, ERROR 1, MISSING 3.
EXPECTED = {1: (0, 0), 2: (1, 1), 3: (1, 6), 4: (0, 0), 5: (1, 6), 6: (1, 4)}


def test_three_cameras_one_fused_decision_per_part_and_a_dead_camera_named(own_domain_env):
    node = _fused_node()
    cameras = [NodeProcess.script('station_camera', name, *plan) for name, plan in PLANS.items()]
    try:
        for camera in cameras:
            assert camera.wait_for_line('READY', 30), camera.output
        client = NodeProcess.script('station_client', '6', '3')
        client_out = client.finish(timeout_s=60)
    finally:
        for camera in cameras:
            camera.interrupt(timeout_s=10)
        node.interrupt(timeout_s=10, sig=signal.SIGTERM)
    node_out = node.output
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    lines = client_out.splitlines()
    events = [json.loads(line[6:]) for line in lines if line.startswith('EVENT ')]
    # Exactly one event per part, none for a view: 6 parts x 3 views became 6 decisions.
    assert sorted(e['part_id'] for e in events) == [1, 2, 3, 4, 5, 6], client_out
    by_part = {e['part_id']: e for e in events}
    assert {p: (e['decision'], e['reason']) for p, e in by_part.items()} == EXPECTED, client_out
    assert all(e['frame_id'] == 'station' for e in events)
    for part_id in (3, 5):     # cam2 dead: one fail-safe reject naming it
        assert by_part[part_id]['detail'].startswith('camera cam2 (missing)'), by_part[part_id]
        assert [v[1] for v in by_part[part_id]['views']] == [0, 0, 3]
    assert by_part[6]['detail'] == 'camera cam1 (error): engine failed'
    # Part 4: the code faces cam1 only; best_view accepts on it, the others' guesses lose.
    assert by_part[4]['views'] == [['cam0', 0, False, BAD, 0.3, 20],
                                   ['cam1', 0, True, GOOD, 0.97, 20],
                                   ['cam2', 0, False, BAD, 0.35, 20]]
    assert (by_part[2]['class_name'], by_part[2]['views'][0][2]) == (BAD, True)
    diag = json.loads(next(line[5:] for line in lines if line.startswith('DIAG ')))
    assert (diag['cam2_missing'], diag['cam0_missing'], diag['cam1_error']) == (2, 0, 1), diag
    assert diag['cam0_views'] == diag['cam1_views'] == diag['cam2_views'] == 6, diag
    assert (diag['cam1_deciding'], diag['cam0_deciding']) == (1, 2), diag
    assert 'cameras cam0, cam1, cam2 fused by best_view' in node_out
    assert 'Traceback' not in node_out + client_out


def _fused_node(fusion='best_view', window_s=0.3, delay_s=0.6):
    return NodeProcess.node(
        'reject_actuator_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', 'actuator:=topic', '-p', f'reject_delay_s:={delay_s}',
        '-p', f'inspection_window_s:={window_s}',
        '-p', 'counters_period_s:=0.2', '-p', "cameras:=['cam0', 'cam1', 'cam2']",
        '-p', f'fusion:={fusion}')


def test_a_camera_killed_and_restarted_mid_run_costs_only_its_parts(own_domain_env):
    # Issue 21's target: exactly one decision per part while one camera process dies
    # (SIGKILL) and comes back; the parts it missed are fail-safe rejects naming it.
    parts = 80
    plan = [f'{GOOD}:0.9'] * parts
    # A window of 1 s: the restarted camera's start-up (imports, DDS discovery) takes the two
    # cores for a while, and with 0.3 s the views of the two live cameras once came late too
    # (CI: part 28 rejected as missing all three views). A camera's outage is what is tested.
    node = _fused_node(window_s=1.0, delay_s=1.5)
    cameras = {name: NodeProcess.script('station_camera', name, *plan) for name in CAMERAS}
    restarted = None
    try:
        for camera in cameras.values():
            assert camera.wait_for_line('READY', 30), camera.output
        client = NodeProcess.script('station_client', str(parts), '3', '0.1')
        assert cameras['cam2'].wait_for_line('SENT 10', 30), cameras['cam2'].output
        cameras['cam2'].kill()
        restarted = NodeProcess.script('station_camera', 'cam2', *plan)
        client_out = client.finish(timeout_s=90)
    finally:
        for camera in list(cameras.values()) + [restarted] * (restarted is not None):
            camera.interrupt(timeout_s=10)
        node.interrupt(timeout_s=10, sig=signal.SIGTERM)
    node_out = node.output
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    events = [json.loads(line[6:]) for line in client_out.splitlines()
              if line.startswith('EVENT ')]
    assert sorted(e['part_id'] for e in events) == list(range(1, parts + 1)), client_out
    sent = {int(line.split()[1]) for process in (cameras['cam2'], restarted)
            for line in process.output.splitlines() if line.startswith('SENT ')}
    rejected = {e['part_id'] for e in events if e['decision'] == 1}
    accepted = {e['part_id'] for e in events if e['decision'] == 0}
    assert rejected and accepted and max(accepted) == parts, client_out   # cam2 came back
    for event in events:
        if event['decision'] == 1:   # only for want of cam2's view, and naming it
            assert (event['reason'], event['detail'].split(':')[0]) == (
                6, 'camera cam2 (missing)'), event
    assert accepted <= sent                       # a part decided on all three views
    assert set(range(1, parts + 1)) - sent <= rejected
    # One outage: the rejects are the parts from the kill until cam2's views reach the actuator
    # again (a view the restarted process sent before DDS matched it to the actuator is lost).
    assert rejected == set(range(min(rejected), max(rejected) + 1)), sorted(rejected)
    assert min(rejected) > 10, sorted(rejected)
    print(f'cam2 down: parts {min(rejected)}..{max(rejected)} ({len(rejected)}) fail-safe')
    assert 'Traceback' not in node_out + client_out
