# SPDX-License-Identifier: Apache-2.0
"""
`acnn label`'s page in a real headless browser: Debian's Chromium driven by Selenium.

A synthetic train split of 160 frames with class-only labels; the real LabelServer on
127.0.0.1 with the shipped demo model's ROI as proposal; the page driven by keys and clicks
as a person would: accept, click-correct, nudge, undo, skip, navigate, a server restart
(resume), then every remaining frame by keyboard. The label files on disk are the assertions.
A second session without a model labels 150 frames by Enter alone and prints the wall time.

Needs /usr/bin/chromium + /usr/bin/chromedriver (apt: chromium chromium-driver; scripts/setup.sh
installs them as root) and selenium (requirements-browser.txt). Without them it FAILS with
the install command: CI needs this test. Selenium is given the driver's path, so Selenium
Manager never downloads a browser or driver.
"""
from pathlib import Path
import shutil
import time

from acnn_ros.core.dataset.label_session import SESSION_FILE
from acnn_ros.core.dataset.labels import read_yolo_label
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, generate_dataset
from acnn_ros.offline.label_server import LabelServer
from browser import start_chromium
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
NUM_TRAIN = 160
COUNT = 150

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope='module')
def driver(tmp_path_factory):
    """Yield headless Chromium run by Debian's chromedriver binary; Selenium Manager never runs."""
    browser = start_chromium(tmp_path_factory.mktemp('chromium'))
    yield browser
    browser.quit()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """
    Return a 160-frame synthetic train split whose labels carry only the class.

    40 frames are rendered (the generator is the slow part on a busy 2-core machine) and each
    is stored under four names (<class>_<n>_r<k>.jpg): the page does not care, the run time does.
    """
    root = tmp_path_factory.mktemp('label_data')
    generate_dataset(root, NUM_TRAIN // 4, 0, seed=5, labeled_fraction=0.0)
    for image in sorted((root / 'images' / 'train').glob('*.jpg')):
        label = root / 'labels' / 'train' / f'{image.stem}.txt'
        for copy in range(1, 4):
            shutil.copy(image, image.with_name(f'{image.stem}_r{copy}.jpg'))
            shutil.copy(label, label.with_name(f'{image.stem}_r{copy}.txt'))
    assert len(list((root / 'images' / 'train').glob('*.jpg'))) == NUM_TRAIN
    return root


class Page:
    """The page as the test sees it: keys, clicks and the page's own state object."""

    def __init__(self, driver, url):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        self.driver = driver
        self.actions = ActionChains
        self.by = By
        driver.get(url)
        self.wait(lambda s: s['seq'] >= 1 and s['pending'] == 0)

    def state(self):
        return self.driver.execute_script(
            'const s = window.labelPage; return {seq: s.seq, pending: s.pending, index: '
            's.index, box: s.box, done: s.done, total: s.total, error: s.error, frame: '
            's.frame, status: s.index >= 0 ? s.frames[s.index].status : "", canvas: '
            '[document.getElementById("view").width, document.getElementById("view").height]}')

    def text(self, element_id):
        return self.driver.find_element(self.by.ID, element_id).text

    def wait(self, done, timeout=10.0):
        end = time.monotonic() + timeout
        while True:
            state = self.state()
            if done(state):
                assert not state['error'], state['error']
                return state
            assert time.monotonic() < end, f'page stuck: {state}'
            time.sleep(0.005)

    def _settle(self, action):
        seq = self.state()['seq']
        action()
        return self.wait(lambda s: s['seq'] > seq and s['pending'] == 0)

    def key(self, key):
        return self._settle(lambda: self.actions(self.driver).send_keys(key).perform())

    def click(self, fx, fy, shift=False):
        """Click the canvas at a fraction (fx, fy) of its size; return the state after it."""
        canvas = self.driver.find_element(self.by.ID, 'view')
        width, height = self.state()['canvas']
        # Selenium 4 offsets are from the element's centre.
        dx, dy = round(fx * width - width / 2), round(fy * height - height / 2)
        seq = self.state()['seq']
        self.actions(self.driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
        # A click runs two steps (move, accept): wait for both.
        self.wait(lambda s: s['seq'] >= seq + 2 and s['pending'] == 0)
        return (dx + width / 2) / width, (dy + height / 2) / height


def _label(root, stem):
    return read_yolo_label(root / 'images' / 'train' / f'{stem}.jpg')


def _class_id(stem):
    return DEFAULT_CLASSES.index(stem.split('_')[0])


def test_label_page_by_keyboard_and_click(driver, dataset, tmp_path):
    from selenium.webdriver.common.keys import Keys
    with LabelServer(dataset, model=MODEL, count=COUNT) as server:
        assert server.url.startswith('http://127.0.0.1:')
        page = Page(driver, server.url)
        first = page.state()
        assert first['total'] == COUNT and first['index'] == 0
        assert page.text('progress') == f'0 / {COUNT}'
        assert page.text('source') == 'proposal: model'
        tally = page.text('tally')
        assert all(f'{name} 0' in tally for name in DEFAULT_CLASSES), tally
        driver.save_screenshot(str(tmp_path / 'label_page.png'))
        print(f'screenshot: {tmp_path / "label_page.png"}')

        # 1. Enter accepts the model's proposal: the file holds the frame's class and that box.
        proposal, stem0 = first['frame']['proposal'], first['frame']['stem']
        after = page.key(Keys.ENTER)
        label = _label(dataset, stem0)
        assert label.class_id == _class_id(stem0)
        assert label.box == pytest.approx(proposal, abs=2e-6)
        assert after['index'] == 1 and page.text('progress') == f'1 / {COUNT}'

        # 2. One click corrects: the box centre moves there (size kept) and is saved.
        stem1, size1 = after['frame']['stem'], after['frame']['proposal'][2:]
        cx, cy = page.click(0.3, 0.4)
        label = _label(dataset, stem1)
        assert label.class_id == _class_id(stem1)
        assert label.box[:2] == pytest.approx((cx, cy), abs=1.5 / after['canvas'][0])
        assert label.box[2:] == pytest.approx(size1, abs=2e-6)

        # 3. Arrows nudge by nudge_px source pixels, then Enter.
        state = page.state()
        stem2, box2 = state['frame']['stem'], state['box']
        for key in (Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN):
            page.key(key)
        page.key(Keys.ENTER)
        nudged = _label(dataset, stem2).box
        assert nudged[0] == pytest.approx(box2[0] + 6 / 640, abs=2e-6)
        assert nudged[1] == pytest.approx(box2[1] + 2 / 480, abs=2e-6)

        # 4. u undoes it: the file is the class-only label again, the page shows that frame.
        state = page.key('u')
        assert state['index'] == 2 and state['status'] == 'todo'
        assert _label(dataset, stem2).box is None
        assert page.text('progress') == f'2 / {COUNT}'
        page.key(Keys.SPACE)
        assert _label(dataset, stem2).box == pytest.approx(box2, abs=2e-6)

        # 5. s skips (the file stays class-only), p / n navigate.
        stem3 = page.state()['frame']['stem']
        state = page.key('s')
        assert state['index'] == 4 and _label(dataset, stem3).box is None
        assert page.key('p')['index'] == 3 and page.state()['status'] == 'skipped'
        assert page.key('n')['index'] == 4

    # 6. A restart resumes: same frames, three done, one skipped, the page on the next to do.
    # (Without the model this time, which saves a model pass on a busy machine: the proposal
    # is then the class's mean box of the frames done so far.)
    with LabelServer(dataset, count=COUNT) as server:
        assert server.resumed
        page = Page(driver, server.url)
        state = page.state()
        assert page.text('progress') == f'3 / {COUNT}' and state['index'] == 4
        assert page.text('source') in ('proposal: class_mean', 'proposal: centre')
        # 7. Keys typed ahead queue up: one Enter per frame left, sent at once, none lost.
        left = COUNT - 3 - 1
        page.actions(driver).send_keys(Keys.ENTER * left).perform()
        state = page.wait(lambda s: s['done'] == COUNT - 1 and s['pending'] == 0, timeout=60)
        assert 'all 150 frames done: 149 labelled, 1 skipped' in page.text('message')
        driver.save_screenshot(str(tmp_path / 'label_page_done.png'))
        chosen = server.session.chosen
        tally = server.state()['tally']
    assert all(n > 0 for n in tally.values()), tally
    boxed = [_label(dataset, Path(rel).stem) for rel in chosen]
    assert sum(label.box is not None for label in boxed) == COUNT - 1
    assert all(label.class_id == _class_id(Path(rel).stem) for label, rel in zip(boxed, chosen))
    others = set((dataset / 'images' / 'train').glob('*.jpg')) - {dataset / r for r in chosen}
    assert len(others) == NUM_TRAIN - COUNT
    assert all(read_yolo_label(path).box is None for path in others)


def test_label_150_frames_by_keyboard_timed(driver, dataset, tmp_path):
    from selenium.webdriver.common.keys import Keys
    root = tmp_path / 'data'
    shutil.copytree(dataset, root)
    (root / SESSION_FILE).unlink(missing_ok=True)
    for label in (root / 'labels' / 'train').glob('*.txt'):
        label.write_text(f'{_class_id(label.stem)}\n')
    with LabelServer(root, count=COUNT) as server:
        page = Page(driver, server.url)
        assert page.text('source') == 'proposal: centre'
        start = time.perf_counter()
        state = page.state()
        while state['done'] < COUNT:
            state = page.key(Keys.ENTER)
        elapsed = time.perf_counter() - start
        assert page.text('progress') == f'{COUNT} / {COUNT}'
        chosen = server.session.chosen
    print(f'labelled {COUNT} frames by keyboard (Enter per frame, real Chromium) in '
          f'{elapsed:.2f} s: {1000 * elapsed / COUNT:.0f} ms per frame')
    boxes = [_label(root, Path(rel).stem).box for rel in chosen]
    # No model: the first proposal is the centre, each later one its class's mean box so far.
    assert all(box == pytest.approx((0.5, 0.5, 0.1, 0.1), abs=2e-6) for box in boxes)


# ---- issue 24.5: the page says what to box; the class tag never covers the boxed code

def _page_state(driver):
    return driver.execute_script(
        'const s = window.labelPage; return {seq: s.seq, pending: s.pending, error: s.error, '
        'frame: s.frame, tag: s.tag || null, box: s.boxRect || null, '
        'task: document.getElementById("task").textContent};')


def _overlap(a, b):
    return (a['x'] < b['x'] + b['w'] and b['x'] < a['x'] + a['w']
            and a['y'] < b['y'] + b['h'] and b['y'] < a['y'] + a['h'])


def test_the_page_says_what_to_box_and_keeps_the_tag_off_the_box(driver, tmp_path):
    generate_dataset(tmp_path, 8, 0, seed=7, labeled_fraction=0.0)
    with LabelServer(tmp_path, count=4) as server:
        driver.get(server.url)
        end = time.monotonic() + 20.0
        state = _page_state(driver)
        while not (state['seq'] >= 1 and state['pending'] == 0 and state['frame']):
            assert time.monotonic() < end, state
            time.sleep(0.02)
            state = _page_state(driver)
        assert not state['error'], state['error']
        name = state['frame']['class_name']
        assert f'Box the printed code of this {name} part' in state['task']
        for cy in (0.03, 0.5, 0.97):
            driver.execute_script(f'window.labelPage.box = [0.5, {cy}, 0.1, 0.06]; draw();')
            state = _page_state(driver)
            assert state['tag'] and state['box'], state
            assert not _overlap(state['tag'], state['box']), (cy, state['tag'], state['box'])
