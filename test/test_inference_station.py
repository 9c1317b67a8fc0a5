# SPDX-License-Identifier: Apache-2.0
"""
inference_node over a station's three image topics, one camera late (issue 21, item 2).

inference_node (image_topics cam0/image, cam1/image, cam2/image; batch_window_s 0.1; the
shipped ONNX model on the CPU) in its own process; three camera processes
(test/clients/station_image_camera.py) publish an image per PartTrigger, cam2 0.8 s late for
parts 2 and 4; the trigger process (test/clients/station_inference_client.py) records the
InspectionResults. Every frame gets one result with its camera's frame_id; a part whose three
frames came together is one engine call (the three results carry the same inference_ms, the
batch's); the late camera holds the others no longer than the window; each camera's overlay
is on its own topic.
"""
import json

from ros_processes import NodeProcess, REPO_DIR

CAMERAS = ('cam0', 'cam1', 'cam2')
LATE_S = 0.8
DELAYS = {'cam0': [0] * 5, 'cam1': [0] * 5, 'cam2': [0, LATE_S, 0, LATE_S, 0]}


def test_three_image_topics_batched_per_part_and_a_late_camera_holds_no_one(own_domain_env):
    node = NodeProcess.node(
        'inference_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', "image_topics:=['cam0/image', 'cam1/image', 'cam2/image']",
        '-p', 'batch_window_s:=0.1', '-p', 'image_qos:=reliable', '-p', "providers:=['cpu']")
    cameras = [NodeProcess.script('station_image_camera', name, *map(str, DELAYS[name]))
               for name in CAMERAS]
    try:
        for camera in cameras:
            assert camera.wait_for_line('READY', 30), camera.output
        assert node.wait_for_log('one engine call per part', 60), node.output
        client = NodeProcess.script('station_inference_client', '5', '1.5', '15', *(
            f'/inference_node/overlay/{camera}/image' for camera in CAMERAS))
        client_out = client.finish(timeout_s=90)
    finally:
        for camera in cameras:
            camera.interrupt(timeout_s=10)
        node.interrupt(timeout_s=15)
    node_out = node.output
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    results = [json.loads(line[7:]) for line in client_out.splitlines()
               if line.startswith('RESULT ')]
    # One result per frame: 5 parts x 3 cameras, each with its camera's frame_id, all OK.
    assert sorted((r['part_id'], r['frame_id']) for r in results) == sorted(
        (part, camera) for part in range(1, 6) for camera in CAMERAS), client_out
    assert all(r['status'] == 0 for r in results), client_out
    by_frame = {(r['part_id'], r['frame_id']): r for r in results}
    for part in (1, 3, 5):    # the three frames together: one engine call for the part
        times = {by_frame[(part, camera)]['inference_ms'] for camera in CAMERAS}
        assert len(times) == 1, (part, times)
    for part in (2, 4):       # cam2 late: cam0 and cam1 went at the window, together
        assert by_frame[(part, 'cam0')]['inference_ms'] == by_frame[(part, 'cam1')][
            'inference_ms']
        for camera in ('cam0', 'cam1'):
            assert by_frame[(part, camera)]['after_trigger_s'] < LATE_S - 0.2, by_frame
            assert by_frame[(part, camera)]['total_ms'] >= 100.0 * 0.9   # waited the window
        assert by_frame[(part, 'cam2')]['after_trigger_s'] >= LATE_S, by_frame
    assert 'DIAG 2 2' in client_out.splitlines(), client_out   # parts 2 and 4: cam2 late
    for camera in CAMERAS:    # every camera's five overlays on its own topic
        assert f'OVERLAY /inference_node/overlay/{camera}/image {camera} 5' in \
            client_out.splitlines(), client_out
    assert 'Traceback' not in node_out + client_out
