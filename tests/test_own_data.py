"""An instructor's own data: gankit.data.load_image_folder and load_text_lines, on a tiny
image folder and a tiny text file written by the tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import DatasetError, load_image_folder, load_text_lines


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """Two classes with images of different sizes, modes and formats, plus things to skip."""
    root = tmp_path / "shapes"
    left_white = np.zeros((56, 56), dtype=np.uint8)
    left_white[:, :28] = 255
    save(root / "squares" / "a.png", left_white)                               # grey, 56x56
    save(root / "squares" / "b.jpg", np.full((20, 30, 3), 255, dtype=np.uint8))  # RGB, not square
    red = np.zeros((28, 28, 3), dtype=np.uint8)
    red[..., 0] = 255
    save(root / "circles" / "red.png", red)                                    # RGB red
    save(root / "circles" / "more" / "c.bmp", np.zeros((40, 40), dtype=np.uint8))  # nested folder
    save(root / "circles" / "alpha.png", np.full((10, 10, 4), 128, dtype=np.uint8))  # RGBA
    (root / "circles" / "notes.txt").write_text("not an image")               # skipped: not an image
    save(root / ".ipynb_checkpoints" / "x.png", np.zeros((5, 5), dtype=np.uint8))  # skipped: hidden
    return root


def test_image_folder_shapes_labels_and_classes(folder):
    images, labels, classes = load_image_folder(folder)
    assert classes == ["circles", "squares"]  # sorted folder names; hidden folders skipped
    assert images.shape == (6 - 1, 1, 28, 28) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.dtype == torch.long
    assert labels.tolist() == [0, 0, 0, 1, 1]  # circles: alpha, red, then more/c; squares: a, b


def test_image_folder_converts_and_resizes(folder):
    images, labels, classes = load_image_folder(folder, size=28, channels=1)
    by_name = dict(zip(["alpha", "red", "c", "a", "b"], images))  # file order: folder by folder, sorted
    left_white = by_name["a"][0]
    assert left_white[:, :12].mean() > 0.99 and left_white[:, 16:].mean() < 0.01  # resized, not scrambled
    assert by_name["red"][0].mean() == pytest.approx(0.299, abs=0.01)  # ITU-R 601 luma of pure red
    assert by_name["c"].max() == 0  # the black bitmap in the nested folder
    assert by_name["b"].min() > 0.99  # the white non-square JPEG, cropped to a square

    rgb, _, _ = load_image_folder(folder, size=16, channels=3)
    assert rgb.shape == (5, 3, 16, 16)
    red = rgb[1]
    assert red[0].mean() > 0.99 and red[1].max() < 0.01 and red[2].max() < 0.01


def test_image_folder_keeps_the_size_when_asked(tmp_path):
    save(tmp_path / "a" / "1.png", np.zeros((12, 9), dtype=np.uint8))
    save(tmp_path / "b" / "2.png", np.full((12, 9), 255, dtype=np.uint8))
    images, labels, classes = load_image_folder(tmp_path, size=None)
    assert images.shape == (2, 1, 12, 9) and labels.tolist() == [0, 1] and classes == ["a", "b"]


def test_image_folder_mixed_sizes_without_resizing(folder):
    with pytest.raises(DatasetError, match=r"different sizes \(.*56x56.*\).*pass size=28"):
        load_image_folder(folder, size=None)


def test_image_folder_unreadable_image_is_named(folder):
    (folder / "squares" / "broken.png").write_bytes(b"this is not a PNG file")
    (folder / "squares" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DatasetError) as info:
        load_image_folder(folder)
    message = str(info.value)
    assert "2 of 7 images" in message and "broken.png" in message and "empty.jpg" in message
    assert "Remove or re-save" in message


def test_image_folder_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="No image folder at .*nope.*parameters cell"):
        load_image_folder(tmp_path / "nope")


def test_image_folder_empty(tmp_path):
    with pytest.raises(DatasetError, match="No class subfolders.*It is empty"):
        load_image_folder(tmp_path)


def test_image_folder_images_without_class_folders(tmp_path):
    save(tmp_path / "1.png", np.zeros((5, 5), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"holds 1 image\(s\) directly; move them into a subfolder"):
        load_image_folder(tmp_path)


def test_image_folder_empty_class(tmp_path):
    save(tmp_path / "full" / "1.png", np.zeros((5, 5), dtype=np.uint8))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="empty_class.*Put images in every class folder"):
        load_image_folder(tmp_path)


def test_image_folder_is_a_file(tmp_path):
    path = save(tmp_path / "1.png", np.zeros((5, 5), dtype=np.uint8))
    with pytest.raises(DatasetError, match="is a file"):
        load_image_folder(path)


@pytest.mark.parametrize("kwargs, match", [
    ({"channels": 2}, "channels must be 1"),
    ({"size": 0}, "size must be a positive int"),
    ({"size": 28.0}, "size must be a positive int"),
])
def test_image_folder_bad_arguments(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_image_folder(folder, **kwargs)


# --------------------------------------------------------------------------- text


def test_text_lines(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\ufeffAnna\n  bob  \n\n\t\nChloé\r\nde la Cruz\n", encoding="utf-8")
    assert load_text_lines(path) == ["Anna", "bob", "Chloé", "de la Cruz"]
    assert load_text_lines(str(path)) == ["Anna", "bob", "Chloé", "de la Cruz"]


def test_text_lines_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n   \n\t\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no non-empty line"):
        load_text_lines(path)


def test_text_lines_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No text file at"):
        load_text_lines(tmp_path / "missing.txt")


def test_text_lines_folder_instead_of_file(tmp_path):
    with pytest.raises(DatasetError, match="is a folder"):
        load_text_lines(tmp_path)


def test_text_lines_wrong_encoding(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Chloé\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not utf-8 text"):
        load_text_lines(path)
    assert load_text_lines(path, encoding="latin-1") == ["Chloé"]
