"""DICOM images read with pydicom, windowed to 8 bits the way a radiologist's viewer shows them.

A DICOM file holds one image here (one slice of a series; a folder of a series' files is a folder of images).
Stored values go through the modality LUT (Rescale Slope/Intercept: Hounsfield units for CT), then the file's
own VOI window (Window Center/Width, or its VOI LUT) when it has one, else its own minimum to maximum;
MONOCHROME1 (white is low) is inverted so that every image reads white-is-high.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PREAMBLE = 128  # a DICOM Part 10 file: 128 bytes of preamble, then the magic
MAGIC = b"DICM"


def is_dicom(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(PREAMBLE)
        return handle.read(len(MAGIC)) == MAGIC


def read_dicom_image(path: Path) -> Image.Image:
    """The image of a DICOM file as an 8-bit Pillow image (L, or RGB for colour files); ValueError says what
    in the file is not supported."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
    except InvalidDicomError as exc:
        raise ValueError(f"{path} is not a readable DICOM file ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # compressed pixel data without its decoder
        raise ValueError(
            f"{path}: its pixel data cannot be decoded here ({exc}); store it uncompressed, e.g. "
            "`gdcmconv --raw` or `dcmdjpeg`"
        ) from None
    except AttributeError:
        raise ValueError(f"{path} is a DICOM file without an image (no Pixel Data)") from None
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ValueError(f"{path} holds {frames} frames; give one image per file (one file per slice)")
    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2"))
    if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        return Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="RGB")
    if not photometric.startswith("MONOCHROME"):
        raise ValueError(f"{path}: photometric interpretation {photometric} is not supported")
    values = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        # DICOM's linear window (PS3.3 C.11.2.1.2), its bounds fixed by the file: one grey per value across a
        # series, whatever each slice holds.
        center = float(np.ravel([dataset.WindowCenter])[0])
        width = max(float(np.ravel([dataset.WindowWidth])[0]), 1.0)
        low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
        values = np.clip(values, low, high)
    else:
        if "VOILUTSequence" in dataset:
            values = np.asarray(apply_voi_lut(np.rint(values).astype(np.int64), dataset), dtype=np.float64)
        low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if photometric == "MONOCHROME1":
        scaled = 1.0 - scaled
    return Image.fromarray(np.rint(scaled * 255).astype(np.uint8), mode="L")
