# SPDX-License-Identifier: Apache-2.0
"""
The seed dataset layout: which files are images, where their labels and class names are.

    <root>/classes.txt                     class names, one per line (optional)
    <root>/images/{train,val,test}/*.jpg   the frames (`val` optional: validation, never test)
    <root>/labels/{train,val,test}/*.txt   one YOLO label per image, same relative path and stem

`acnn dataset` writes all three splits (core/dataset/dataset_builder.py); without `val`, the
trainer carves its validation frames out of `train`.

The trainer, `acnn eval-recording --images`, `acnn make-bag --images` and the camera's image-folder
source all list folders and find labels through this module, so they read the same files.
The content of a label file is `acnn_ros.core.dataset.labels`.
"""
from pathlib import Path
from typing import List, Optional

# Suffixes of the files taken as images: formats every OpenCV build we ship reads
# (cv2.imread; checked with OpenCV 5.0: JPEG, PNG, BMP, TIFF, PGM/PPM, WebP).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.pgm', '.ppm', '.webp')
CLASSES_FILE = 'classes.txt'


def list_images(folder: Path) -> List[Path]:
    """Return the image files under `folder` (recursively), sorted by path."""
    return sorted(p for p in Path(folder).rglob('*')
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder_images(folder: Path, split: Optional[str] = None) -> List[Path]:
    """
    Return the images of a folder in sorted order.

    In the seed format (`images/{train,test}/` beside `labels/`) `split` picks one split
    (default: all); otherwise the folder's own images (recursively) are used.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'image folder not found: {folder}')
    root = folder / 'images' if (folder / 'images').is_dir() else folder
    if split:
        root = root / split
        if not root.is_dir():
            raise FileNotFoundError(f'split folder not found: {root}')
    images = list_images(root)
    if not images:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {root}')
    return images


def yolo_label_path(image_path: Path) -> Path:
    """
    Return the label file of an image: .../images/x/a.jpg -> .../labels/x/a.txt.

    The last `images` folder of the path becomes `labels` (the seed layout, and the rule of
    the YOLO tools); an image outside any `images` folder has its label beside it (a.txt).
    """
    parts = list(Path(image_path).parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == 'images':
            parts[i] = 'labels'
            return Path(*parts).with_suffix('.txt')
    return Path(image_path).with_suffix('.txt')


def read_class_names(root: Path) -> Optional[List[str]]:
    """Return the names in ``<root>/classes.txt``, or None when there is no such file."""
    path = Path(root) / CLASSES_FILE
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    return [n for n in names if n]
