# SPDX-License-Identifier: Apache-2.0
"""The seed format has one owner: the camera, eval-recording and the trainer read one format."""
from pathlib import Path

from acnn_ros.core.camera.source import ImageFolderSource, read_truth_class
from acnn_ros.core.dataset.labels import LabelError, parse_yolo_label, yolo_truth, YoloLabel
from acnn_ros.core.dataset.seed_format import (folder_images, IMAGE_SUFFIXES, read_class_names,
                                               yolo_label_path)
from acnn_ros.model.dataset import scan_split
import cv2
import numpy as np
import pytest


def test_every_reader_lists_the_same_images(tmp_path):
    split = tmp_path / 'images' / 'train'
    (split / 'sub').mkdir(parents=True)
    (split / 'not_an_image.png').mkdir()                 # a folder is never an image
    frame = np.full((8, 8, 3), 7, np.uint8)
    names = ['a_0.jpg', 'a_1.PNG', 'a_2.tif', 'a_3.webp', 'sub/a_4.pgm', 'a_5.ppm']
    for name in names:
        image = frame[:, :, 0] if name.endswith('.pgm') else frame
        assert cv2.imwrite(str(split / name), image)
        assert cv2.imread(str(split / name)) is not None, name
    (split / 'notes.txt').write_text('not an image\n')
    expected = sorted(split / n for n in names)
    assert {p.suffix.lower() for p in expected} <= set(IMAGE_SUFFIXES)
    assert folder_images(tmp_path, 'train') == expected
    camera = ImageFolderSource(str(split), loop=False)
    camera.connect()
    assert camera.files == expected
    samples, problems, _ = scan_split(tmp_path, 'train', class_names=['a'])
    assert [s.image_path for s in samples] == expected and not problems


def test_label_path_rule_and_class_names(tmp_path):
    assert yolo_label_path(Path('/d/images/x/images/test/a.jpg')) == \
        Path('/d/images/x/labels/test/a.txt')
    assert yolo_label_path(Path('/d/flat/a.png')) == Path('/d/flat/a.txt')
    assert read_class_names(tmp_path) is None
    (tmp_path / 'classes.txt').write_text('good\n\n bad \n')
    assert read_class_names(tmp_path) == ['good', 'bad']


@pytest.mark.parametrize('text, reason', [
    ('0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1 0.1', 'one object per image'),
    ('0 0.5 0.5 0.1 0.1 0.9', 'found 6 fields'),
    ('good 0.5 0.5 0.1 0.1', 'not an integer'),
    ('-1', '(is negative|outside 0..1)'),
])
def test_one_strict_yolo_parser_for_every_reader(tmp_path, text, reason):
    assert parse_yolo_label('# c\n\n2 0.5 0.5 0.1 0.2\n', 3) == YoloLabel(2, (0.5, 0.5, 0.1, 0.2))
    assert parse_yolo_label('  \n# only a comment\n') is None
    with pytest.raises(LabelError, match=reason):
        parse_yolo_label(text)
    image = tmp_path / 'images' / 'a.jpg'
    label = tmp_path / 'labels' / 'a.txt'
    label.parent.mkdir()
    label.write_text(text)
    with pytest.raises(LabelError, match=f'a.txt: .*{reason}'):
        yolo_truth(image, ['good', 'bad'], 640, 480)  # eval-recording / make-bag stop, file named
    assert read_truth_class(image) is None                # the camera shows it unlabelled
    label.write_text('1 0.5 0.5 0.1 0.1\n')
    assert read_truth_class(image) == 1
