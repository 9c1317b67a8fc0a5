# SPDX-License-Identifier: Apache-2.0
"""`acnn thresholds`: the sweep equals the line's reject rule, the choice, the card, the CLI."""
from dataclasses import replace
import json

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.labels import GroundTruth
from acnn_ros.core.model_card import ModelCard
from acnn_ros.core.reject.decision import decide, RejectPolicy
from acnn_ros.core.replay.metrics import FrameEvaluation, FrameRef
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.offline.evaluation import FolderSource, run_pipeline
from acnn_ros.offline.make_bag_cli import write_image_bag
from acnn_ros.offline.thresholds import (check_policy, choose_operating_point,
                                         choose_threshold, Curve, curve, sweep_frames,
                                         THRESHOLDS)
from acnn_ros.offline.thresholds_report import replace_section
from acnn_ros.runtime.pipeline import InspectionPipeline
from contract_model import CLASS_NAMES, export_contract_model
import cv2
import numpy as np
import pytest

CLASSES = ('ok_a', 'ok_b', 'bad_x', 'bad_y', 'stray')


def _verdicts(count, seed=0, top=1.0):
    rng = np.random.default_rng(seed)
    verdicts = []
    for i in range(count):
        status = rng.choice([InspectionStatus.OK] * 8 + [InspectionStatus.ERROR,
                                                         InspectionStatus.DROPPED])
        name = str(rng.choice(CLASSES))
        # Confidences on, between and off the grid (0.5 exactly, 0.5004, ...).
        confidence = float(rng.choice([rng.random(), round(rng.random(), 3), top, 0.0]))
        outcome = InspectionOutcome(status=InspectionStatus(status), class_name=name,
                                    class_id=CLASSES.index(name), confidence=confidence)
        truth_name = str(rng.choice(CLASSES))
        truth = GroundTruth(CLASSES.index(truth_name), truth_name) if rng.random() < 0.9 \
            else None
        verdicts.append(FrameEvaluation(FrameRef(i), outcome, decide(outcome, RejectPolicy()),
                                        truth))
    return verdicts


POLICIES = [RejectPolicy(reject_classes=('bad_x', 'bad_y')),
            RejectPolicy(accept_classes=('ok_a', 'ok_b'), reject_classes=('bad_x',),
                         min_confidence_per_class={'ok_a': 0.9})]


@pytest.mark.parametrize('policy', POLICIES)
def test_the_sweep_counts_what_decide_decides_at_every_threshold(policy):
    verdicts = _verdicts(400)
    frames = sweep_frames(verdicts, policy)
    overall = curve(frames)
    for i in range(0, len(THRESHOLDS), 7):
        point = check_policy(verdicts, replace(policy, min_confidence=float(THRESHOLDS[i]),
                                               min_confidence_per_class={}))
        assert (overall.escapes[i], overall.false_rejects[i]) == \
            (point.escapes, point.false_rejects), THRESHOLDS[i]
        assert (overall.defective, overall.good) == (point.defective, point.good)
    # Per predicted class: its threshold alone decides its parts; the escapes add up.
    names = sorted({f.class_name for f in frames if f.thresholded})
    per_class = {n: curve(frames, n) for n in names}
    assert np.array_equal(sum(c.escapes for c in per_class.values()), overall.escapes)
    t = {n: float(THRESHOLDS[100 + 150 * k]) for k, n in enumerate(names)}
    point = check_policy(verdicts, replace(policy, min_confidence=0.3,
                                           min_confidence_per_class=t))
    assert point.escapes == sum(per_class[n].escapes[int(t[n] * 1000)] for n in names)


@pytest.mark.parametrize('policy', POLICIES)
@pytest.mark.parametrize('rate', [0.0, 0.05])
def test_the_choice_has_the_fewest_false_rejects_within_the_escape_rate(policy, rate):
    verdicts = _verdicts(400, seed=2, top=0.9995)      # 1.0 would escape any threshold
    point, curves = choose_operating_point(verdicts, policy, max_escape_rate=rate)
    allowed = int(rate * point.defective)
    overall = curves['']
    assert point.feasible and point.escapes <= allowed
    chosen = int(round(point.policy.min_confidence * 1000))
    assert point.false_rejects == overall.false_rejects[chosen]
    # No threshold within the escape budget has fewer false rejects.
    within = overall.escapes <= allowed
    assert point.false_rejects == overall.false_rejects[within].min()
    per = choose_operating_point(verdicts, policy, max_escape_rate=rate, per_class=True)[0]
    assert per.feasible and per.escapes <= allowed
    assert per.false_rejects <= point.false_rejects          # per-class never does worse
    assert set(per.policy.min_confidence_per_class) == {n for n in curves if n}


def test_choose_threshold_takes_the_middle_of_the_best_plateau():
    n = len(THRESHOLDS)
    escapes = np.where(THRESHOLDS < 0.400, 2, 0)
    false_rejects = np.where(THRESHOLDS < 0.800, 1, 3)
    c = Curve(escapes, false_rejects, 10, 10)
    assert THRESHOLDS[choose_threshold(c, 0)] == 0.599       # plateau 0.400 .. 0.799
    assert THRESHOLDS[choose_threshold(c, 2)] == 0.399       # plateau 0.000 .. 0.799
    assert choose_threshold(Curve(np.ones(n, int), false_rejects, 1, 10), 0) is None


def test_an_escape_at_full_confidence_is_infeasible():
    outcome = InspectionOutcome(status=InspectionStatus.OK, class_name='ok_a', confidence=1.0)
    verdict = FrameEvaluation(FrameRef(0), outcome, decide(outcome, RejectPolicy()),
                              GroundTruth(2, 'bad_x'))
    point, _ = choose_operating_point([verdict], POLICIES[0])
    assert not point.feasible and point.escapes == 1


def test_model_card_operating_point_is_optional(tmp_path):
    card = ModelCard(name='m', class_names=('a', 'b'))
    data = json.loads(card.to_json())
    del data['operating_point']                     # a card written before the field
    old = tmp_path / 'old.json'
    old.write_text(json.dumps(data))
    assert ModelCard.load(old).operating_point == {}
    new = replace(card, operating_point={'min_confidence': 0.8})
    new.save(tmp_path / 'new.json')
    assert ModelCard.load(tmp_path / 'new.json').operating_point == {'min_confidence': 0.8}
    text = '# card\n\n## Reproduce\n\nx\n'
    once = replace_section(text, '## Operating point\n\n- a\n')
    assert replace_section(once, '## Operating point\n\n- b\n').count('Operating point') == 1
    assert '- b' in replace_section(once, '## Operating point\n\n- b\n')


# ------------------------------------------------------------- the CLI on a real model

# (true class, BGR colour of the blob): the contract model classifies by colour, so a red
# (defective) part painted mostly green is accepted as green unless the threshold rejects it.
PARTS = [('green', (0, 255, 0)), ('blue', (255, 0, 0)), ('green', (240, 255, 0)),
         ('blue', (255, 120, 0)), ('green', (0, 255, 60)), ('red', (0, 0, 255)),
         ('red', (0, 255, 200)), ('red', (0, 90, 255)), ('blue', (255, 0, 160)),
         ('green', (200, 255, 0))]


def _frame(colour):
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:216, 300:316] = colour
    return frame


@pytest.fixture(scope='module')
def validation(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    model = export_contract_model(root / 'model')
    for split in ('val', 'train'):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'labels' / split).mkdir(parents=True)
    for i, (name, colour) in enumerate(PARTS):
        cv2.imwrite(str(root / 'images' / 'val' / f'{name}_{i}.png'), _frame(colour))
        (root / 'labels' / 'val' / f'{name}_{i}.txt').write_text(
            f'{CLASS_NAMES.index(name)}\n')
    (root / 'classes.txt').write_text('\n'.join(CLASS_NAMES) + '\n')
    pipeline = InspectionPipeline.from_model_path(model)
    verdicts = run_pipeline(pipeline, FolderSource(root, 'val').frames(),
                            RejectPolicy(reject_classes=('red',)), progress=False)
    return root, model, verdicts


def test_thresholds_cli_on_a_dataset_writes_curves_yaml_and_card(validation, tmp_path,
                                                                 capsys):
    root, model, verdicts = validation
    escape = max(v.outcome.confidence for v in verdicts
                 if v.truth.class_name == 'red' and v.outcome.class_name != 'red')
    assert 0.5 < escape < 0.99                          # the test data has a real escape
    out = tmp_path / 'thr'
    assert acnn(['thresholds', str(model), str(root), '--defective', 'red', '--out', str(out),
                 '--write-card', '--no-progress']) == 0
    printed = capsys.readouterr().out
    card = ModelCard.load(model.with_suffix('.json'))
    chosen = card.operating_point['min_confidence']
    assert escape < chosen <= 1.0
    assert card.operating_point['escapes'] == 0
    # Independently: the line's rule at the chosen value on the same frames.
    policy = RejectPolicy(reject_classes=('red',), min_confidence=chosen)
    goods = [v for v in verdicts if v.truth.class_name != 'red']
    rejected = sum(decide(v.outcome, policy).reject for v in goods)
    assert card.operating_point['false_rejects'] == rejected
    assert f'    min_confidence: {chosen:.3f}' in printed
    rows = (out / 'thresholds.csv').read_text().splitlines()
    assert len(rows) == 1 + len(THRESHOLDS)
    for row in rows[1::97]:
        fields = row.split(',')
        t = float(fields[0])
        at_t = replace(policy, min_confidence=t)
        assert int(fields[1]) == sum(not decide(v.outcome, at_t).reject
                                     for v in verdicts if v.truth.class_name == 'red')
        assert int(fields[2]) == sum(decide(v.outcome, at_t).reject for v in goods)
    assert (out / 'thresholds.png').stat().st_size > 10_000
    assert cv2.imread(str(out / 'thresholds.png')) is not None
    assert 'chosen' in (out / 'thresholds.md').read_text()
    # A fixed threshold that lets the escape through: exit 1, the card keeps its old point.
    assert acnn(['thresholds', str(model), str(root), '--defective', 'red', '--out',
                 str(tmp_path / 'fixed'), '--threshold', '0.5', '--write-card',
                 '--no-progress']) == 1
    assert ModelCard.load(model.with_suffix('.json')).operating_point['min_confidence'] == \
        chosen
    assert acnn(['thresholds', str(model), str(root), '--out', str(tmp_path / 'x')]) == 2


def test_thresholds_cli_on_a_bag_per_class(validation, tmp_path, capsys):
    root, model, _ = validation
    items = [(_frame(colour), GroundTruth(CLASS_NAMES.index(name), name), f'{name}_{i}')
             for i, (name, colour) in enumerate(PARTS)]
    bag = tmp_path / 'bag'
    write_image_bag(bag, iter(items), start_time_ns=1_800_000_000_000_000_000)
    out = tmp_path / 'thr'
    assert acnn(['thresholds', str(model), str(bag), '--defective', 'red', '--out', str(out),
                 '--per-class', '--no-progress']) == 0
    printed = capsys.readouterr().out
    op = json.loads((out / 'operating_point.json').read_text())
    assert op['escapes'] == 0 and set(op['min_confidence_per_class']) <= set(CLASS_NAMES)
    assert 'min_confidence_per_class: [' in printed


def test_thresholds_cli_refuses_a_defective_class_the_model_does_not_have(validation, tmp_path,
                                                                          capsys):
    root, model, _ = validation
    out = tmp_path / 'thr'
    assert acnn(['thresholds', str(model), str(root), '--defective', 'red,purple', '--out',
                 str(out), '--write-card', '--no-progress']) == 2
    error = capsys.readouterr().err
    assert '--defective purple: not a class of the model (its classes: red, green, blue)' in \
        error
    assert not (out / 'operating_point.json').exists()


def test_thresholds_cli_warns_loudly_and_keeps_the_card_at_an_unusable_point(validation,
                                                                             tmp_path, capsys):
    root, model, verdicts = validation
    card_path = model.with_suffix('.json')
    before = card_path.read_text()
    goods = [v for v in verdicts if v.truth.class_name != 'red']
    policy = RejectPolicy(reject_classes=('red',), min_confidence=0.999)
    rejected = sum(decide(v.outcome, policy).reject for v in goods)
    assert rejected > len(goods) / 2                    # no escape, but most good parts out
    args = ['thresholds', str(model), str(root), '--defective', 'red', '--out',
            str(tmp_path / 'thr'), '--threshold', '0.999', '--write-card', '--no-progress']
    assert acnn(args) == 1
    printed = capsys.readouterr()
    assert 'UNUSABLE OPERATING POINT' in printed.err
    assert f'of the good parts rejected ({rejected} of {len(goods)})' in printed.err
    assert 'Nothing was written into the model card' in printed.err
    assert 'min_confidence: 0.999' not in printed.out           # no YAML lines for the line
    assert card_path.read_text() == before
    # Said on purpose: the point is written.
    assert acnn(args + ['--max-false-reject-rate', '1']) == 0
    assert ModelCard.load(card_path).operating_point['min_confidence'] == 0.999


def test_eval_recording_compares_with_the_cards_operating_point_and_says_go_or_no_go(
        validation, tmp_path, capsys):
    root, model, verdicts = validation
    assert acnn(['thresholds', str(model), str(root), '--defective', 'red', '--out',
                 str(tmp_path / 'thr'), '--write-card', '--no-progress']) == 0
    op = ModelCard.load(model.with_suffix('.json')).operating_point
    reds = [v for v in verdicts if v.truth.class_name == 'red']
    goods = [v for v in verdicts if v.truth.class_name != 'red']
    command = ['eval-recording', '--model', str(model), '--images', str(root), '--split', 'val',
               '--reject-classes', 'red', '--no-progress', '--min-confidence']
    capsys.readouterr()
    # At the card's threshold (the same frames here): no escape, GO.
    assert acnn(command + [f"{op['min_confidence']:.3f}", '--out', str(tmp_path / 'go')]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert f'held-out: escape rate 0.0 % (0 of {len(reds)}), false-reject rate' in lines[-3]
    assert lines[-2].startswith("card's operating point (") and \
        f"escape rate 0.0 % (0 of {op['defective_parts']})" in lines[-2]
    assert lines[-1].startswith('GO: ')
    # At 0.5 the painted red parts pass as green: NO-GO, with the rates and the threshold said.
    policy = RejectPolicy(reject_classes=('red',), min_confidence=0.5)
    escapes = sum(not decide(v.outcome, policy).reject for v in reds)
    false_rejects = sum(decide(v.outcome, policy).reject for v in goods)
    assert escapes > 0
    assert acnn(command + ['0.5', '--out', str(tmp_path / 'no_go')]) == 0
    printed = capsys.readouterr().out
    rate = escapes / len(reds) * 100
    assert (f'held-out: escape rate {rate:.1f} % ({escapes} of {len(reds)}), false-reject rate '
            f'{false_rejects / len(goods) * 100:.1f} % ({false_rejects} of {len(goods)}) at '
            'min_confidence 0.5') in printed
    assert "warning: evaluated at min_confidence 0.5, not the card's" in printed
    assert f'NO-GO: escape rate {rate:.1f} % > 0.0 % allowed' in printed
    summary = json.loads((tmp_path / 'no_go' / 'summary.json').read_text())
    assert summary['meta']['go_no_go'].startswith('NO-GO: escape rate')
    assert '## Go / no-go' in (tmp_path / 'no_go' / 'summary.md').read_text()
