"""Frame and camera-file I/O shared by the raw-source datasets, with errors that name the file (and frame).

Sections: reading frames, writing frames, camera files (3×3 K from ``.txt``/``.npy``/``.json``), frame stacks
(parallel decode of a whole video into one array) and frame lists (numbered files, gap and pairing checks).

Every reader forces a full decode (``Image.load()``) so that a truncated or corrupt file fails here, with its path,
and not later inside numpy. Shapes: H×W image; depth in metres (float32), colour RGB (uint8), labels int16 with
−1 = unknown.

Frame writers are the inverse of the readers and are used by :class:`~crossvideo_kedro.datasets.HOI4DRawDataset`:

* colour → JPEG (quality 95, no chroma subsampling),
* depth → 16-bit PNG holding ``round(depth / depth_scale)`` (0 = no depth),
* labels → 8-bit PNG holding the id, 255 for unknown (−1).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from crossvideo_kedro.sequences import DataError, is_valid_sequence_name

logger = logging.getLogger(__name__)

#: PIL modes that hold one 16-bit unsigned channel (how 16-bit greyscale PNGs open).
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: PIL modes read as label ids (one channel).
_ID_MODES = ("L", "P", *_UINT16_MODES)
#: Value of an 8-bit id mask that means "unknown" (−1).
UNKNOWN_ID_U8 = 255
#: Value of a 16-bit id mask that means "unknown" (−1).
UNKNOWN_ID_U16 = 65535

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1  # fast; depth/label PNGs are lossless at any level


# --------------------------------------------------------------------------------------------------- reading frames
def open_image(path: str | Path, kind: str = "image") -> Image.Image:
    """Open and fully decode an image file.

    Args:
        path: Image file.
        kind: What the file should hold ("colour frame", "depth frame" …), for the error message.

    Returns:
        The decoded PIL image (pixel data loaded, file closed).

    Raises:
        DataError: The file is missing, not an image, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {kind} file does not exist")
    try:
        with Image.open(path) as image:
            image.load()  # force the full decode: truncated files fail here, not later
            return image
    except UnidentifiedImageError as error:
        raise DataError(f"{path}: {kind} is not a readable image ({error})") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: {kind} is truncated or corrupt ({error})") from error


def _check_size(path: Path, array: np.ndarray, expected_hw: tuple[int, int] | None, kind: str) -> None:
    if expected_hw is not None and tuple(array.shape[:2]) != tuple(expected_hw):
        height, width = expected_hw
        raise DataError(
            f"{path}: {kind} is {array.shape[1]}x{array.shape[0]} (WxH), expected {width}x{height} like the first frame"
        )


def read_color(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read a colour frame.

    Args:
        path: JPEG/PNG file.
        expected_hw: (H, W) the frame must have (e.g. the first frame's), or ``None``.

    Returns:
        uint8 (H, W, 3) RGB.

    Raises:
        DataError: Missing, corrupt or truncated file, or the wrong size.
    """
    path = Path(path)
    image = open_image(path, "colour frame")
    if image.mode != "RGB":
        if image.mode not in ("L", "RGBA", "P", "CMYK", "YCbCr", "LA", "RGBX"):
            raise DataError(f"{path}: colour frame has PIL mode {image.mode!r}, expected 8-bit RGB")
        image = image.convert("RGB")
    rgb = np.asarray(image, dtype=np.uint8)
    _check_size(path, rgb, expected_hw, "colour frame")
    return rgb


def read_depth_raw(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read a depth frame as stored.

    Returns:
        uint16 (H, W) raw sensor values.

    Raises:
        DataError: Missing/corrupt file, not a single-channel 16-bit image (the message names the mode and dtype),
            or the wrong size.
    """
    path = Path(path)
    image = open_image(path, "depth frame")
    if image.mode in _UINT16_MODES:
        raw = np.asarray(image).astype(np.uint16, copy=False)
    elif image.mode == "I":  # some writers/older Pillow: 16-bit PNG opened as 32-bit int
        raw = np.asarray(image)
        if raw.min(initial=0) < 0 or raw.max(initial=0) > 65535:
            raise DataError(f"{path}: depth frame has 32-bit values outside 0..65535, expected uint16 depth")
        raw = raw.astype(np.uint16)
    else:
        dtype = np.asarray(image).dtype
        raise DataError(
            f"{path}: depth frame has PIL mode {image.mode!r} ({dtype}, {len(image.getbands())} channel(s)), "
            "expected a single-channel uint16 image (PIL mode 'I;16')"
        )
    _check_size(path, raw, expected_hw, "depth frame")
    return raw


def read_depth(
    path: str | Path,
    depth_scale: float = 0.001,
    invalid: Iterable[int] = (0,),
    expected_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read a depth frame in metres.

    Args:
        path: 16-bit PNG.
        depth_scale: Metres per raw unit (0.001: millimetres).
        invalid: Raw values that mean "no depth" (e.g. 0 and 65535 for 7-Scenes); they become 0 m.
        expected_hw: (H, W) the frame must have, or ``None``.

    Returns:
        float32 (H, W) depth in metres, 0 where there is no depth.
    """
    raw = read_depth_raw(path, expected_hw)
    depth = raw.astype(np.float32)
    depth *= np.float32(depth_scale)
    for value in {int(v) for v in invalid} - {0}:  # raw 0 is already 0 m
        np.putmask(depth, raw == value, np.float32(0.0))
    return depth


def palette_lookup(palette: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Turn ``{"#rrggbb": id}`` into sorted packed colour codes and their ids (for :func:`colors_to_ids`).

    Raises:
        ValueError: A key is not ``#rrggbb`` or an id does not fit int16.
    """
    codes, ids = [], []
    for key, value in palette.items():
        text = str(key).strip().lstrip("#")
        if len(text) != 6:
            raise ValueError(f"mask_palette key {key!r} is not a colour '#rrggbb'")
        try:
            codes.append(int(text, 16))
        except ValueError as error:
            raise ValueError(f"mask_palette key {key!r} is not a colour '#rrggbb'") from error
        if not -1 <= int(value) <= np.iinfo(np.int16).max:
            raise ValueError(f"mask_palette id {value!r} for {key!r} is outside -1..32767")
        ids.append(int(value))
    order = np.argsort(codes)
    return np.asarray(codes, dtype=np.int64)[order], np.asarray(ids, dtype=np.int16)[order]


def colors_to_ids(rgb: np.ndarray, codes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Map an RGB label image to ids; colours not in the palette become −1.

    Args:
        rgb: uint8 (H, W, 3).
        codes: sorted int64 (C,) packed colours ``r << 16 | g << 8 | b``.
        ids: int16 (C,) id of each code.

    Returns:
        int16 (H, W).
    """
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    if codes.size == 0:
        return np.full(packed.shape, -1, dtype=np.int16)
    slot = np.clip(np.searchsorted(codes, packed), 0, codes.size - 1)
    return np.where(codes[slot] == packed, ids[slot], np.int16(-1)).astype(np.int16)


def read_mask(
    path: str | Path,
    fmt: str = "auto",
    palette: Mapping[str, int] | tuple[np.ndarray, np.ndarray] | None = None,
    expected_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read a per-pixel label frame.

    Args:
        path: PNG file.
        fmt: ``"id"`` (one channel holding the id; 255 — or 65535 for 16-bit — means unknown), ``"color"`` (RGB
            mapped through ``palette``; unlisted colours → −1) or ``"auto"`` (by PIL mode: one channel → id;
            RGB/RGBA → colour; a palette ("P") image → colour when ``palette`` is given, else its indices as ids).
        palette: ``{"#rrggbb": id}`` or the output of :func:`palette_lookup`; needed for colour masks.
        expected_hw: (H, W) the frame must have, or ``None``.

    Returns:
        int16 (H, W), −1 = unknown.
    """
    path = Path(path)
    if fmt not in ("auto", "id", "color"):
        raise ValueError(f"mask format must be 'auto', 'id' or 'color', got {fmt!r}")
    image = open_image(path, "label mask")
    mode = image.mode
    if fmt == "auto":
        fmt = "color" if mode in ("RGB", "RGBA") or (mode == "P" and palette is not None) else "id"
    if fmt == "id":
        labels = _id_mask(path, image)
    else:
        if palette is None:
            raise DataError(f"{path}: label mask is a colour mask (mode {mode!r}) but no mask_palette was given")
        if mode not in ("RGB", "RGBA", "P"):
            raise DataError(f"{path}: colour label mask has PIL mode {mode!r}, expected RGB")
        codes, ids = palette_lookup(palette) if isinstance(palette, Mapping) else palette
        labels = colors_to_ids(np.asarray(image.convert("RGB"), dtype=np.uint8), codes, ids)
    _check_size(path, labels, expected_hw, "label mask")
    return labels


def _id_mask(path: Path, image: Image.Image) -> np.ndarray:
    """Single-channel id mask → int16 with the format's "unknown" value mapped to −1."""
    if image.mode not in _ID_MODES:
        raise DataError(f"{path}: id label mask has PIL mode {image.mode!r}, expected a single-channel image (L)")
    raw = np.asarray(image)
    unknown = UNKNOWN_ID_U8 if raw.dtype == np.uint8 else UNKNOWN_ID_U16
    if raw.dtype != np.uint8 and np.any((raw > np.iinfo(np.int16).max) & (raw != unknown)):
        raise DataError(f"{path}: id label mask has ids above 32767 (int16)")
    labels = raw.astype(np.int16)
    labels[raw == unknown] = -1
    return labels


# --------------------------------------------------------------------------------------------------- writing frames
def write_color(path: str | Path, rgb: np.ndarray) -> None:
    """Write uint8 (H, W, 3) RGB as JPEG (quality 95, 4:4:4)."""
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(
        path, format="JPEG", quality=JPEG_QUALITY, subsampling=0
    )


def depth_to_raw(depth: np.ndarray, depth_scale: float, where: str) -> np.ndarray:
    """Metres → uint16 raw units ``round(depth / depth_scale)``.

    Args:
        depth: float (..., H, W) metres, 0 = no depth.

    Raises:
        DataError: Negative or non-finite depth, or a value that does not fit uint16 at this scale.
    """
    if not np.all(np.isfinite(depth)) or np.any(depth < 0):
        raise DataError(f"{where}: depth must be finite and >= 0 m (0 = no depth)")
    raw = np.rint(depth / depth_scale)
    if raw.max(initial=0) > 65535:
        raise DataError(
            f"{where}: depth up to {float(depth.max()):.3f} m does not fit a uint16 PNG at depth_scale {depth_scale} "
            f"(max {65535 * depth_scale:.3f} m)"
        )
    return raw.astype(np.uint16)


def write_depth_raw(path: str | Path, raw: np.ndarray) -> None:
    """Write uint16 (H, W) as a 16-bit PNG."""
    Image.fromarray(np.ascontiguousarray(raw, dtype=np.uint16)).save(
        path, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )


def labels_to_u8(labels: np.ndarray, where: str) -> np.ndarray:
    """int (..., H, W) ids with −1 unknown → uint8 with 255 unknown.

    Raises:
        DataError: An id outside −1..254.
    """
    if labels.size and (labels.min() < -1 or labels.max() > 254):
        raise DataError(
            f"{where}: label ids must lie in -1..254 to be written as an 8-bit id mask, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    return np.where(labels < 0, UNKNOWN_ID_U8, labels).astype(np.uint8)


def write_mask_u8(path: str | Path, mask: np.ndarray) -> None:
    """Write uint8 (H, W) ids as an 8-bit PNG."""
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(
        path, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )


# --------------------------------------------------------------------------------------------------- camera files
def as_intrinsics(value: Sequence | np.ndarray, where: str) -> np.ndarray:
    """Check a 3×3 pinhole K given inline (nested list or array).

    Returns:
        float64 (3, 3).

    Raises:
        DataError: Not a finite 3×3 matrix with positive focal lengths and last row (0, 0, 1).
    """
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: intrinsics must be a 3x3 matrix of numbers ({error})") from error
    if matrix.shape != (3, 3):
        raise DataError(f"{where}: intrinsics must be a 3x3 matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise DataError(f"{where}: intrinsics contain non-finite values")
    if not (matrix[0, 0] > 0 and matrix[1, 1] > 0) or not np.allclose(matrix[2], (0.0, 0.0, 1.0)):
        raise DataError(
            f"{where}: intrinsics are not a pinhole K (need fx, fy > 0 and last row 0 0 1), got {matrix.tolist()}"
        )
    return matrix


def read_intrinsics(path: str | Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Read a 3×3 K from a camera file.

    Supported: ``.txt`` (3 rows of 3 whitespace-separated numbers, e.g. 7-Scenes ``camera-intrinsics.txt``),
    ``.npy`` (a (3, 3) array, e.g. HOI4D ``intrin.npy``) and ``.json`` (Open3D/RealSense
    ``{"intrinsic_matrix": [9 values, column-major], "width", "height"}``; a nested 3×3 list is read row-major).

    Returns:
        float64 (3, 3) K and the image size (H, W) when the file states it, else ``None``.

    Raises:
        DataError: Missing, unreadable or malformed file, naming the file and the expected shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: intrinsics file does not exist")
    suffix = path.suffix.lower()
    size = None
    try:
        if suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif suffix == ".json":
            matrix, size = _intrinsics_from_json(path)
        else:
            matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise DataError(f"{path}: cannot read intrinsics, expected a 3x3 matrix ({error})") from error
    return as_intrinsics(matrix, str(path)), size


def _intrinsics_from_json(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: intrinsics file is not valid JSON ({error})") from error
    if not isinstance(data, dict) or "intrinsic_matrix" not in data:
        raise DataError(f"{path}: expected a JSON object with key 'intrinsic_matrix' (9 values, column-major)")
    values = np.asarray(data["intrinsic_matrix"], dtype=np.float64)
    if values.shape == (9,):
        matrix = values.reshape(3, 3).T  # Open3D stores K column-major
    elif values.shape == (3, 3):
        matrix = values
    else:
        raise DataError(f"{path}: 'intrinsic_matrix' must hold 9 values (column-major 3x3), got shape {values.shape}")
    size = (int(data["height"]), int(data["width"])) if "height" in data and "width" in data else None
    return matrix, size


# --------------------------------------------------------------------------------------------------- frame stacks
def io_workers() -> int:
    """Threads for frame I/O (PIL releases the GIL while it decodes/encodes)."""
    return max(2, min(8, os.cpu_count() or 1))


def read_stack(
    paths: Sequence[str | Path],
    read_one: Callable[..., np.ndarray],
    pool: ThreadPoolExecutor | None = None,
    expected_hw: tuple[int, int] | None = None,
    indices: Sequence[int] | None = None,
) -> np.ndarray:
    """Read frames into one preallocated array, in parallel; every frame must match the first one's size.

    Args:
        paths: Frame files in order (T of them, T > 0).
        read_one: ``read_one(path, expected_hw=...) -> array`` (e.g. a :func:`functools.partial` of
            :func:`read_depth`).
        pool: Thread pool to use; a private one when ``None``.
        expected_hw: (H, W) every frame, the first included, must have; ``None``: the first frame's.
        indices: Frame numbers of ``paths`` for error messages (a chunk of a longer video); default 0..T−1.

    Returns:
        (T, H, W, ...) stack with the first frame's dtype.

    Raises:
        DataError: From ``read_one`` with " (frame i)" appended.
    """
    number = (lambda i: int(indices[i])) if indices is not None else (lambda i: i)
    first = _read_frame(read_one, paths[0], number(0), expected_hw)
    stack = np.empty((len(paths), *first.shape), dtype=first.dtype)
    stack[0] = first
    expected_hw = first.shape[:2]

    def fill(frames: range) -> None:
        for i in frames:
            stack[i] = _read_frame(read_one, paths[i], number(i), expected_hw)

    # A few chunks per thread: one task per small frame would cost more in thread hand-offs than the decode.
    step = max(4, -(-(len(paths) - 1) // (4 * io_workers())))
    chunks = [range(start, min(start + step, len(paths))) for start in range(1, len(paths), step)]
    if pool is None:
        with ThreadPoolExecutor(io_workers()) as own_pool:
            list(own_pool.map(fill, chunks))
    else:
        list(pool.map(fill, chunks))
    return stack


def _read_frame(
    read_one: Callable[..., np.ndarray], path: str | Path, index: int, expected_hw: tuple[int, int] | None
) -> np.ndarray:
    try:
        return read_one(path, expected_hw=expected_hw)
    except DataError as error:
        raise DataError(f"{error} (frame {index})") from error


def refuse_outside(paths: Iterable[Path], root: Path, place: str) -> None:
    """Raise :class:`DataError` for the first of ``paths`` that resolves outside ``root`` (links followed).

    One ``realpath`` per folder, not per file: a file that is not itself a link resolves inside its folder's real
    path, so only links (and each new folder) are resolved — a frame file costs two ``lstat`` calls.
    Paths that do not exist are skipped (the readers report them). ``place`` names ``root`` in the message.
    """
    real_root = Path(os.path.realpath(root))
    folders: dict[Path, Path] = {}
    for path in paths:
        if not os.path.lexists(path):
            continue
        if os.path.islink(path):
            resolved = Path(os.path.realpath(path))
        else:
            if path.parent not in folders:
                folders[path.parent] = Path(os.path.realpath(path.parent))
            resolved = folders[path.parent] / path.name
        if not resolved.is_relative_to(real_root):
            raise DataError(
                f"{path}: resolves to {resolved}, outside the {place} {real_root}; links that leave the source are "
                "refused (set allow_external_links: true on the catalog entry to follow them)"
            )


def safe_name(name: str) -> str:
    """A sequence name usable as one file name: path separators → ``__``, runs of dots → ``_``, other unsafe
    characters → ``_``, leading ``_``/``-``/``.`` dropped.

    The result always meets :data:`~crossvideo_kedro.sequences.SEQUENCE_NAME_RULE`, the rule writers enforce, so a
    name a reader gives is one every writer accepts (a folder ``a..b`` is read as sequence ``a_b``).
    """
    text = re.sub(r"[/\\]+", "__", str(name).strip())
    text = re.sub(r"\.{2,}", "_", text)
    text = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip("._-")
    return text or "sequence"


def is_safe_name(name: str) -> bool:
    """Whether ``name`` meets the project's one rule for sequence names (:func:`is_valid_sequence_name`)."""
    return is_valid_sequence_name(name)


# --------------------------------------------------------------------------------------------------- frame lists
def numbered_files(folder: Path, pattern: str) -> dict[int, Path]:
    """Files of ``folder`` whose name fully matches ``pattern`` (a regex whose first group is the frame number).

    Returns:
        ``{frame number: path}`` (empty when the folder holds none).
    """
    regex = re.compile(pattern)
    found: dict[int, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            match = regex.fullmatch(entry.name)
            if match and entry.is_file():
                index = int(match.group(1))
                if index in found:
                    raise DataError(f"{folder}: frame {index} appears twice ({found[index].name}, {entry.name})")
                found[index] = Path(entry.path)
    return found


def check_numbering(indices: Sequence[int], file_for: Callable[[int], str], start: int | None = None) -> None:
    """Check that sorted frame numbers run without a gap (from ``start`` when given).

    Args:
        indices: Sorted frame numbers found.
        file_for: Frame number → the file that should hold it (for the message).
        start: Required first frame number, or ``None`` to start at the smallest found.

    Raises:
        DataError: Naming the first missing file.
    """
    first = indices[0] if start is None else start
    expected = np.arange(first, first + len(indices))
    if not np.array_equal(np.asarray(indices), expected):
        present = set(indices)
        missing = next(i for i in range(first, indices[-1] + 1) if i not in present)
        raise DataError(
            f"{file_for(missing)}: frame {missing} is missing (found {len(indices)} frames numbered "
            f"{indices[0]}..{indices[-1]}, expected consecutive numbers from {first})"
        )


def check_same_frames(
    reference: Mapping[int, Path], other: Mapping[int, Path], reference_kind: str, other_kind: str, other_folder: Path
) -> None:
    """Check that two frame lists (e.g. depth and colour) hold the same frame numbers.

    Raises:
        DataError: Naming the count of each and the first file that has no partner.
    """
    if reference.keys() == other.keys():
        return
    extra = sorted(other.keys() - reference.keys())
    lacking = sorted(reference.keys() - other.keys())
    detail = (
        f"{other[extra[0]]} has no {reference_kind} frame {extra[0]}"
        if extra
        else f"{other_folder} lacks the {other_kind} frame for {reference[lacking[0]]}"
    )
    raise DataError(
        f"{other_folder}: {len(other)} {other_kind} frames but {len(reference)} {reference_kind} frames; {detail}"
    )
