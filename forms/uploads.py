"""Validation of uploaded dossier scans (PDF, JPEG, PNG) and their conversion to PDF."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import img2pdf
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_

__all__ = [
    "MAX_IMAGE_DECODED_BYTES",
    "MAX_IMAGE_PIXELS",
    "MEDIA_JPEG",
    "MEDIA_PDF",
    "MEDIA_PNG",
    "PreparedUpload",
    "UploadRejected",
    "combine_size_ok",
    "prepare_upload",
    "sniff_media_type",
]


MEDIA_PDF = "application/pdf"
MEDIA_JPEG = "image/jpeg"
MEDIA_PNG = "image/png"

MAX_IMAGE_PIXELS = 80_000_000
"""Largest accepted image (80 megapixels, e.g. an A4 page scanned at 1200 dpi)."""

MAX_IMAGE_DECODED_BYTES = 128 * 1024 * 1024
"""Default cap on an image's decoded size, width × height × bands × bytes per sample (settings can change it).

The pixel cap alone lets through a 79-megapixel PNG of 16-bit RGBA: 632 MB decoded, several times that
while it is flattened. 128 MiB still takes an A4 page scanned at 600 dpi in 8-bit colour (100 MiB).
"""

_MIB = 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_A4_PT = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))
_A4_LAYOUT = img2pdf.get_layout_fun(pagesize=_A4_PT, fit=img2pdf.FitMode.into, auto_orient=True)

MSG_EMPTY = N_("The file is empty.")
MSG_TOO_LARGE = N_("The file is larger than {max_mb} MB.")
MSG_TOTAL_TOO_LARGE = N_("The files of this dossier would exceed {max_mb} MB in total.")
MSG_WRONG_TYPE = N_("Only PDF, JPEG and PNG files are accepted.")
MSG_PDF_ENCRYPTED = N_(
    "This PDF is encrypted or password-protected and cannot be processed. Please upload an unprotected copy."
)
MSG_PDF_DAMAGED = N_("The PDF file is damaged or incomplete.")
MSG_PDF_NO_PAGES = N_("The PDF file has no pages.")
MSG_IMAGE_DAMAGED = N_("The image is damaged or incomplete.")
MSG_IMAGE_TOO_BIG = N_("The image is too large: at most {max_megapixels} megapixels are accepted.")
MSG_IMAGE_TOO_HEAVY = N_(
    "The image is too large: opened, it would take more than {max_mb} MB. "
    "Scan it at a lower resolution or in 8-bit colour, or save it as JPEG."
)

# Channels per pixel of each PNG colour type (grey, RGB, palette, grey + alpha, RGBA).
_PNG_BANDS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

# Exceptions raised by the parsing libraries on malformed input (never MemoryError etc.).
_PDF_ERRORS: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RecursionError,
    NotImplementedError,
    OSError,
    EOFError,
    struct.error,
    zlib.error,
)
# Pillow's own bomb guard (far above our caps, so only a header that lies gets there) is "too large".
_BOMB_ERRORS: tuple[type[BaseException], ...] = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_IMAGE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    img2pdf.ImageOpenError,
    img2pdf.AlphaChannelError,
    img2pdf.ExifOrientationError,
    img2pdf.JpegColorspaceError,
    img2pdf.NegativeDimensionError,
    img2pdf.PdfTooLargeError,
    img2pdf.UnsupportedColorspaceError,
)


class UploadRejected(DomainError):
    """An uploaded file refused with a translatable msgid, params and HTTP status."""

    status_code = 422
    title = "File rejected"

    def __init__(self, msgid: str, params: dict[str, Any] | None = None, *, status_code: int = 422) -> None:
        super().__init__(msgid, params, status_code=status_code)


@dataclass(frozen=True)
class PreparedUpload:
    """A validated upload, stored as PDF."""

    pdf: bytes
    sha256: str
    original_media_type: str
    size: int
    pages: int
    original_size: int


def _mb(n_bytes: int) -> int | float:
    """Express a byte count in MiB for messages (integer when exact)."""
    if n_bytes % _MIB == 0:
        return n_bytes // _MIB
    return round(n_bytes / _MIB, 1)


def sniff_media_type(head: bytes) -> str | None:
    """Recognise PDF, JPEG or PNG from the first bytes of a file, else None."""
    if head.startswith(b"%PDF-"):
        return MEDIA_PDF
    if head.startswith(b"\xff\xd8\xff"):
        return MEDIA_JPEG
    if head.startswith(_PNG_SIGNATURE):
        return MEDIA_PNG
    return None


def combine_size_ok(existing_total: int, new_size: int, *, max_total: int) -> None:
    """Raise UploadRejected (413) when adding ``new_size`` would exceed the dossier's total limit."""
    if existing_total + new_size > max_total:
        raise UploadRejected(MSG_TOTAL_TOO_LARGE, {"max_mb": _mb(max_total)}, status_code=413)


def prepare_upload(data: bytes, *, max_bytes: int, max_decoded_bytes: int = MAX_IMAGE_DECODED_BYTES) -> PreparedUpload:
    """Validate an uploaded file by its content and return it as a PDF ready to store.

    ``max_decoded_bytes`` caps what an image may take once decoded, read from its header before decoding.
    """
    if not data:
        raise UploadRejected(MSG_EMPTY, status_code=422)
    if len(data) > max_bytes:
        raise UploadRejected(MSG_TOO_LARGE, {"max_mb": _mb(max_bytes)}, status_code=413)
    media_type = sniff_media_type(data[:16])
    if media_type == MEDIA_PDF:
        pdf, pages = data, _check_pdf(data)
    elif media_type == MEDIA_JPEG:
        pdf, pages = _jpeg_to_pdf(data, max_decoded_bytes), 1
    elif media_type == MEDIA_PNG:
        pdf, pages = _png_to_pdf(data, max_decoded_bytes), 1
    else:
        raise UploadRejected(MSG_WRONG_TYPE, status_code=415)
    return PreparedUpload(
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        original_media_type=media_type,
        size=len(pdf),
        pages=pages,
        original_size=len(data),
    )


# --- PDF ------------------------------------------------------------------------------------


def _check_pdf(data: bytes) -> int:
    """Parse a PDF fully enough to trust it; return its page count."""
    # Like Acrobat, require the end-of-file marker within the last 1024 bytes: catches truncation.
    if b"%%EOF" not in data[-1024:] or b"startxref" not in data[-2048:]:
        raise UploadRejected(MSG_PDF_DAMAGED)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRejected(MSG_PDF_ENCRYPTED)
        pages = len(reader.pages)
        if pages == 0:
            raise UploadRejected(MSG_PDF_NO_PAGES)
        for page in reader.pages:
            _ = page.mediabox.width, page.mediabox.height
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
    except UploadRejected:
        raise
    except _PDF_ERRORS as exc:
        raise UploadRejected(MSG_PDF_DAMAGED) from exc
    return pages


# --- Images ---------------------------------------------------------------------------------


def _too_many_pixels() -> UploadRejected:
    return UploadRejected(MSG_IMAGE_TOO_BIG, {"max_megapixels": MAX_IMAGE_PIXELS // 1_000_000}, status_code=422)


def _check_pixels(width: int, height: int) -> None:
    """Refuse an image whose header announces no pixels or more than the pixel cap."""
    if width <= 0 or height <= 0:
        raise UploadRejected(MSG_IMAGE_DAMAGED)
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels()


def _check_decoded_bytes(decoded_bytes: int, max_decoded_bytes: int) -> None:
    """Refuse an image that would take more than the cap once decoded."""
    if decoded_bytes > max_decoded_bytes:
        raise UploadRejected(MSG_IMAGE_TOO_HEAVY, {"max_mb": _mb(max_decoded_bytes)}, status_code=422)


def _open_verified(data: bytes, expected_format: str, max_decoded_bytes: int) -> Image.Image:
    """Open, verify and fully decode an image; reject bombs and truncated files."""
    with Image.open(io.BytesIO(data)) as probe:
        if probe.format != expected_format:
            raise UploadRejected(MSG_IMAGE_DAMAGED)
        width, height = probe.size
        _check_pixels(width, height)
        if expected_format == "JPEG":
            # Only the 1/8-scale draft below is decoded (img2pdf embeds the JPEG itself), a byte a sample.
            bands = len(probe.getbands())
            _check_decoded_bytes(-(-width // 8) * -(-height // 8) * bands, max_decoded_bytes)
        probe.verify()
    image = Image.open(io.BytesIO(data))  # verify() leaves the image unusable: reopen
    if expected_format == "JPEG":
        # Decoding at 1/8 scale still reads every scan (truncation is caught) with 64x less memory.
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
    image.load()
    return image


def _jpeg_end(data: bytes) -> int | None:
    """Return the offset just past the JPEG EOI marker, or None when the stream is truncated."""
    n = len(data)
    i = 2
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == 0xD9:
            return i
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if i + 2 > n:
            return None
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2:
            return None
        i += length
        if marker != 0xDA:
            continue
        while True:  # entropy-coded data after SOS: runs until a real marker
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= n:
                return None
            following = data[j + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                i = j + 2
            elif following == 0xFF:
                i = j + 1
            else:
                i = j
                break
    return None


def _jpeg_to_pdf(data: bytes, max_decoded_bytes: int) -> bytes:
    """Embed a JPEG losslessly in a one-page A4 PDF, dropping any bytes after its end."""
    end = _jpeg_end(data)
    if end is None:
        raise UploadRejected(MSG_IMAGE_DAMAGED)
    jpeg = data[:end]
    try:
        with _open_verified(jpeg, "JPEG", max_decoded_bytes):
            pass
        try:
            result = img2pdf.convert(jpeg, layout_fun=_A4_LAYOUT, rotation=img2pdf.Rotation.ifvalid, nodate=True)
        except img2pdf.ExifOrientationError:
            result = img2pdf.convert(jpeg, layout_fun=_A4_LAYOUT, rotation=img2pdf.Rotation.none, nodate=True)
    except UploadRejected:
        raise
    except _BOMB_ERRORS as exc:
        raise _too_many_pixels() from exc
    except _IMAGE_ERRORS as exc:
        raise UploadRejected(MSG_IMAGE_DAMAGED) from exc
    return bytes(result)


def _flatten(image: Image.Image) -> Image.Image:
    """Return an 8-bit L or RGB image, compositing any transparency onto white."""
    transparent = "transparency" in image.info
    if image.mode in ("L", "RGB") and not transparent:
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode == "1" and not transparent:
        return image.convert("L")
    rgba = image.convert("RGBA")
    if not (transparent or "A" in image.mode or "a" in image.mode):
        return rgba.convert("RGB")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) chunks up to IEND; anything after IEND is ignored."""
    chunks: list[tuple[bytes, bytes]] = []
    i = len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        payload = data[i + 8 : i + 8 + length]
        if len(payload) != length:
            break
        chunks.append((kind, payload))
        i += 12 + length
        if kind == b"IEND":
            return chunks
    raise UploadRejected(MSG_IMAGE_DAMAGED)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """Serialise one PNG chunk with its CRC."""
    crc = zlib.crc32(kind + payload).to_bytes(4, "big")
    return len(payload).to_bytes(4, "big") + kind + payload + crc


def _compact_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Rebuild a PNG with only IHDR, pHYs, one merged IDAT and IEND (no metadata, no payloads)."""
    header = b"".join(_png_chunk(k, p) for k, p in chunks if k in (b"IHDR", b"pHYs"))
    idat = b"".join(p for k, p in chunks if k == b"IDAT")  # one chunk: img2pdf joins chunks slowly
    return _PNG_SIGNATURE + header + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png_embeddable(chunks: list[tuple[bytes, bytes]]) -> bool:
    """Tell whether the PNG is opaque, non-interlaced 1/8-bit grey or 8-bit RGB (embeddable as is)."""
    kinds = {kind for kind, _ in chunks}
    ihdr = chunks[0][1] if chunks and chunks[0][0] == b"IHDR" and len(chunks[0][1]) == 13 else None
    if ihdr is None or b"tRNS" in kinds:
        return False
    depth, color_type, interlace = ihdr[8], ihdr[9], ihdr[12]
    return interlace == 0 and ((color_type == 0 and depth in (1, 8)) or (color_type == 2 and depth == 8))


def _check_png_header(data: bytes, max_decoded_bytes: int) -> None:
    """Refuse a PNG by its IHDR (size, channels, bit depth) before Pillow decodes anything."""
    ihdr = data[len(_PNG_SIGNATURE) : len(_PNG_SIGNATURE) + 8 + 13]
    if len(ihdr) != 21 or ihdr[4:8] != b"IHDR":
        raise UploadRejected(MSG_IMAGE_DAMAGED)
    width, height, depth, color_type = struct.unpack(">IIBB", ihdr[8:18])
    bands = _PNG_BANDS.get(color_type)
    if bands is None or depth not in (1, 2, 4, 8, 16):
        raise UploadRejected(MSG_IMAGE_DAMAGED)
    _check_pixels(width, height)
    # Samples under 8 bits still take a byte each once decoded (Pillow's "1", "L", "P" modes).
    _check_decoded_bytes(width * height * bands * max(1, depth // 8), max_decoded_bytes)


def _png_to_pdf(data: bytes, max_decoded_bytes: int) -> bytes:
    """Wrap a PNG in a one-page A4 PDF, re-encoding it first unless it is opaque grey/RGB."""
    _check_png_header(data, max_decoded_bytes)
    try:
        with _open_verified(data, "PNG", max_decoded_bytes) as image:
            chunks = _png_chunks(data)
            if not _png_embeddable(chunks):
                buf = io.BytesIO()
                dpi = image.info.get("dpi")
                _flatten(image).save(buf, format="PNG", **({"dpi": dpi} if dpi else {}))
                chunks = _png_chunks(buf.getvalue())
        png = _compact_png(chunks)
        result = img2pdf.convert(png, layout_fun=_A4_LAYOUT, rotation=img2pdf.Rotation.none, nodate=True)
    except UploadRejected:
        raise
    except _BOMB_ERRORS as exc:
        raise _too_many_pixels() from exc
    except _IMAGE_ERRORS as exc:
        raise UploadRejected(MSG_IMAGE_DAMAGED) from exc
    return bytes(result)
