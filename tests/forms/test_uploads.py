"""Tests of forms.uploads: content sniffing, validation and conversion of dossier scans."""

from __future__ import annotations

import functools
import hashlib
import html
import io
import struct
import zipfile
import zlib

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlmodel import Session, select

from forms.uploads import (
    MAX_IMAGE_DECODED_BYTES,
    MAX_IMAGE_PIXELS,
    MEDIA_JPEG,
    MEDIA_PDF,
    MEDIA_PNG,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_BIG,
    MSG_IMAGE_TOO_HEAVY,
    PreparedUpload,
    UploadRejected,
    combine_size_ok,
    prepare_upload,
    sniff_media_type,
)
from portal.dossiers.models import Dossier, DossierFile
from portal.kernel.i18n import translations
from portal.kernel.settings import Settings
from tests.factories import marital_step1, pdf_bytes
from tests.web.flow import post_step, start, upload

LIMIT = 5 * 1024 * 1024


def make_pdf(pages: int = 2) -> bytes:
    """A real multi-page PDF made with fpdf2."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(text=f"Page {i + 1} of a scanned document")
    return bytes(pdf.output())


def make_image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (300, 200), **save: object) -> bytes:
    """An image with some structure so that it does not compress to nothing."""
    color: object = {"RGB": (200, 30, 30), "RGBA": (0, 0, 255, 128), "L": 90, "P": 3, "I;16": 40000, "1": 1}[mode]
    image = Image.new(mode, size, color)  # type: ignore[arg-type]
    for x in range(0, size[0], 7):
        image.paste(0, (x, 0, x + 2, size[1]))
    for y in range(0, size[1], 11):
        image.paste(0, (0, y, size[0], y + 1))
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def raw_png(width: int, height: int, *, depth: int, color_type: int, pixel: bytes) -> bytes:
    """A PNG of one colour written by hand (Pillow cannot write 16-bit RGBA), streamed so it stays small."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\0" + pixel * width  # filter type 0, then the samples
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@functools.cache
def bomb_png() -> bytes:
    """The hostile upload of the issue: 78 megapixels of 16-bit RGBA (626 MB decoded) in about 600 KB."""
    return raw_png(8800, 8900, depth=16, color_type=6, pixel=b"\x12\x34" * 3 + b"\xff\xff")


def assert_valid(result: PreparedUpload, pages: int) -> PdfReader:
    """The stored bytes are a readable PDF with the announced page count and checksum."""
    reader = PdfReader(io.BytesIO(result.pdf))
    assert len(reader.pages) == pages == result.pages
    assert result.sha256 == hashlib.sha256(result.pdf).hexdigest()
    assert result.size == len(result.pdf)
    return reader


def rejected(data: bytes, max_bytes: int = LIMIT) -> UploadRejected:
    """Run prepare_upload and return the rejection it must raise."""
    with pytest.raises(UploadRejected) as info:
        prepare_upload(data, max_bytes=max_bytes)
    return info.value


# --- accepted files -------------------------------------------------------------------------


def test_pdf_is_kept_byte_for_byte() -> None:
    data = make_pdf(pages=3)
    result = prepare_upload(data, max_bytes=LIMIT)
    assert result.pdf == data
    assert result.original_media_type == MEDIA_PDF
    assert result.original_size == len(data)
    assert_valid(result, pages=3)


def test_jpeg_becomes_one_page_pdf_with_the_jpeg_embedded_losslessly() -> None:
    data = make_image("JPEG", quality=90)
    result = prepare_upload(data, max_bytes=LIMIT)
    assert result.original_media_type == MEDIA_JPEG
    assert result.original_size == len(data)
    assert data in result.pdf  # DCTDecode stream = the original JPEG bytes
    reader = assert_valid(result, pages=1)
    box = reader.pages[0].mediabox
    assert {round(float(box.width)), round(float(box.height))} == {595, 842}  # A4, either orientation


def test_jpeg_trailing_payload_is_dropped() -> None:
    data = make_image("JPEG")
    payload = b"PK\x03\x04 hidden archive appended after EOI"
    result = prepare_upload(data + payload, max_bytes=LIMIT)
    assert payload not in result.pdf
    assert data in result.pdf
    assert result.original_size == len(data) + len(payload)
    assert_valid(result, pages=1)


def test_jpeg_with_exif_rotation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    result = prepare_upload(make_image("JPEG", exif=exif.tobytes()), max_bytes=LIMIT)
    page = assert_valid(result, pages=1).pages[0]
    assert page.rotation == 90


def test_jpeg_with_flipped_exif_orientation_is_accepted_unrotated() -> None:
    exif = Image.Exif()
    exif[0x0112] = 2  # mirrored: img2pdf cannot express it, so it is ignored
    result = prepare_upload(make_image("JPEG", exif=exif.tobytes()), max_bytes=LIMIT)
    assert assert_valid(result, pages=1).pages[0].rotation == 0


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16", "1"])
def test_png_modes_become_one_page_pdf(mode: str) -> None:
    data = make_image("PNG", mode=mode)
    result = prepare_upload(data, max_bytes=LIMIT)
    assert result.original_media_type == MEDIA_PNG
    assert_valid(result, pages=1)


def test_rgba_png_transparency_is_composited_on_white() -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # fully transparent black
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    result = prepare_upload(buf.getvalue(), max_bytes=LIMIT)
    page = assert_valid(result, pages=1).pages[0]
    (embedded,) = page.images
    assert embedded.image is not None
    assert embedded.image.convert("RGB").getpixel((20, 20)) == (255, 255, 255)


def test_png_metadata_chunks_are_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "private-note-123")
    result = prepare_upload(make_image("PNG", pnginfo=info), max_bytes=LIMIT)
    assert b"private-note-123" not in result.pdf
    assert_valid(result, pages=1)


def test_grey_png_with_transparent_colour_is_flattened() -> None:
    data = make_image("PNG", mode="L", transparency=0)
    page = assert_valid(prepare_upload(data, max_bytes=LIMIT), pages=1).pages[0]
    (embedded,) = page.images
    assert embedded.image is not None
    assert embedded.image.convert("RGB").getpixel((0, 0)) == (255, 255, 255)  # stripe pixel was transparent


def test_png_with_appended_zip_is_stored_without_it() -> None:
    zip_buf = io.BytesIO()
    with zipfile.ZipFile(zip_buf, "w") as zf:
        zf.writestr("secret.txt", "polyglot payload " * 20)
    result = prepare_upload(make_image("PNG") + zip_buf.getvalue(), max_bytes=LIMIT)
    assert b"secret.txt" not in result.pdf
    assert_valid(result, pages=1)


# --- rejected files -------------------------------------------------------------------------


def test_empty_file() -> None:
    err = rejected(b"")
    assert (err.status_code, err.msgid) == (422, "The file is empty.")


def test_too_large_is_checked_before_type() -> None:
    err = rejected(b"MZ" + b"\0" * 3 * 1024 * 1024, max_bytes=2 * 1024 * 1024)
    assert err.status_code == 413
    assert err.params == {"max_mb": 2}
    assert "{max_mb}" in err.msgid


def test_too_large_real_pdf_with_small_limit() -> None:
    data = make_pdf()
    err = rejected(data, max_bytes=len(data) - 1)
    assert err.status_code == 413


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffThis program cannot be run in DOS mode",
        b"<!DOCTYPE html><html><body>%PDF-1.7</body></html>",
        "Đây là một tệp văn bản thuần".encode(),
        b"\x00\x00\x00\x00",
        b"GIF89a\x01\x00\x01\x00",
    ],
    ids=["exe", "html", "text", "zeros", "gif"],
)
def test_wrong_types(data: bytes) -> None:
    err = rejected(data)
    assert (err.status_code, err.msgid) == (415, "Only PDF, JPEG and PNG files are accepted.")


def test_zip_named_png_is_rejected() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("scan.png", make_image("PNG"))
    assert rejected(buf.getvalue()).status_code == 415


def test_encrypted_pdf() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    err = rejected(out.getvalue())
    assert err.status_code == 422
    assert "encrypted" in err.msgid


def test_truncated_pdf() -> None:
    data = make_pdf(pages=3)
    err = rejected(data[: len(data) // 2])
    assert (err.status_code, err.msgid) == (422, "The PDF file is damaged or incomplete.")


def test_pdf_with_garbage_body() -> None:
    data = b"%PDF-1.7\n" + b"garbage " * 200 + b"\nstartxref\n12345\n%%EOF\n"
    assert rejected(data).status_code == 422


def test_pdf_with_zero_pages() -> None:
    writer = PdfWriter()
    out = io.BytesIO()
    writer.write(out)
    err = rejected(out.getvalue())
    assert (err.status_code, err.msgid) == (422, "The PDF file has no pages.")


def test_truncated_jpeg() -> None:
    data = make_image("JPEG", size=(400, 400))
    err = rejected(data[: len(data) // 2])
    assert (err.status_code, err.msgid) == (422, "The image is damaged or incomplete.")


def test_jpeg_header_only() -> None:
    assert rejected(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").status_code == 422


def test_truncated_png() -> None:
    data = make_image("PNG", size=(400, 400))
    assert rejected(data[: len(data) // 2]).status_code == 422


def test_png_with_corrupted_chunk() -> None:
    data = bytearray(make_image("PNG"))
    data[40] ^= 0xFF  # inside IHDR/IDAT: CRC mismatch
    assert rejected(bytes(data)).status_code == 422


def test_decompression_bomb_png() -> None:
    side = int(MAX_IMAGE_PIXELS**0.5) + 100  # just over the cap, a tiny file
    image = Image.new("1", (side, side), 1)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    assert len(buf.getvalue()) < LIMIT
    err = rejected(buf.getvalue())
    assert err.status_code == 422
    assert err.params == {"max_megapixels": 80}


def test_huge_declared_png_dimensions() -> None:
    # A PNG header claiming 100000 x 100000 pixels: Pillow refuses it as a bomb.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    assert rejected(data).status_code == 422
    assert rejected(data).msgid == MSG_IMAGE_TOO_BIG  # too large, not damaged


def test_pillow_decompression_bomb_is_too_large_not_damaged() -> None:
    # A JPEG whose frame header claims 65000 x 65000 pixels: Pillow's own guard raises DecompressionBombError.
    data = bytearray(make_image("JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bytes(data)))
    err = rejected(bytes(data))
    assert (err.status_code, err.msgid, err.params) == (422, MSG_IMAGE_TOO_BIG, {"max_megapixels": 80})


def test_small_png_of_a_huge_16_bit_rgba_image_is_refused_before_decoding() -> None:
    data = bomb_png()
    assert len(data) < 1024 * 1024 and MAX_IMAGE_PIXELS > 8800 * 8900  # passes the size and pixel caps
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.size == (8800, 8900)
    err = rejected(data)
    assert (err.status_code, err.msgid, err.params) == (422, MSG_IMAGE_TOO_HEAVY, {"max_mb": 128})
    assert Settings(_env_file=None).max_image_decoded_bytes == MAX_IMAGE_DECODED_BYTES  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("color_type", "depth", "pixel", "decoded"),
    [
        (6, 16, b"\x00\x01" * 4, 40 * 30 * 4 * 2),  # RGBA, 16 bits a sample
        (2, 8, b"\x10\x20\x30", 40 * 30 * 3),  # RGB
        (0, 16, b"\x80\x00", 40 * 30 * 2),  # 16-bit grey
        (4, 8, b"\x80\xff", 40 * 30 * 2),  # grey + alpha
    ],
)
def test_png_decoded_size_is_width_height_bands_bytes(color_type: int, depth: int, pixel: bytes, decoded: int) -> None:
    data = raw_png(40, 30, depth=depth, color_type=color_type, pixel=pixel)
    assert_valid(prepare_upload(data, max_bytes=LIMIT, max_decoded_bytes=decoded), pages=1)
    with pytest.raises(UploadRejected) as info:
        prepare_upload(data, max_bytes=LIMIT, max_decoded_bytes=decoded - 1)
    assert info.value.msgid == MSG_IMAGE_TOO_HEAVY


def test_jpeg_decoded_size_counts_the_one_eighth_draft() -> None:
    data = make_image("JPEG", size=(801, 400))  # decoded at 1/8 scale: 101 x 50 pixels of 3 bands
    assert_valid(prepare_upload(data, max_bytes=LIMIT, max_decoded_bytes=101 * 50 * 3), pages=1)
    with pytest.raises(UploadRejected) as info:
        prepare_upload(data, max_bytes=LIMIT, max_decoded_bytes=101 * 50 * 3 - 1)
    assert info.value.msgid == MSG_IMAGE_TOO_HEAVY


@pytest.mark.db
def test_a_decompression_bomb_upload_is_refused_over_http_and_the_draft_kept(citizen: TestClient, db: Session) -> None:
    dossier_id = start(citizen)
    assert post_step(citizen, dossier_id, "applicant", marital_step1()).status_code == 303
    assert upload(citizen, dossier_id, "to_khai", "to-khai.pdf", pdf_bytes(), "application/pdf").status_code == 303
    r = upload(citizen, dossier_id, "giay_to_ly_hon", "scan.png", bomb_png(), "image/png")
    assert r.status_code == 422
    assert 'class="error-summary"' in r.text
    too_large = translations("vi").gettext(MSG_IMAGE_TOO_HEAVY).format(max_mb=128)
    assert too_large != MSG_IMAGE_TOO_HEAVY.format(max_mb=128)  # translated
    assert html.escape(too_large, quote=False) in r.text
    assert html.escape(translations("vi").gettext(MSG_IMAGE_DAMAGED), quote=False) not in r.text
    db.rollback()  # a new snapshot
    files = db.exec(select(DossierFile).where(DossierFile.dossier_id == dossier_id)).all()
    assert [f.filename for f in files] == ["to-khai.pdf"]
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.data["ethnicity"] == "Kinh"


# --- helpers --------------------------------------------------------------------------------


def test_sniff_media_type() -> None:
    assert sniff_media_type(b"%PDF-1.4\n") == MEDIA_PDF
    assert sniff_media_type(b"\xff\xd8\xff\xdb") == MEDIA_JPEG
    assert sniff_media_type(b"\x89PNG\r\n\x1a\n\0\0") == MEDIA_PNG
    assert sniff_media_type(b"PK\x03\x04") is None
    assert sniff_media_type(b"") is None


def test_combine_size_ok() -> None:
    combine_size_ok(40 * 1024 * 1024, 10 * 1024 * 1024, max_total=50 * 1024 * 1024)
    with pytest.raises(UploadRejected) as info:
        combine_size_ok(40 * 1024 * 1024, 10 * 1024 * 1024 + 1, max_total=50 * 1024 * 1024)
    assert info.value.status_code == 413
    assert info.value.params == {"max_mb": 50}
    assert info.value.msgid == "The files of this dossier would exceed {max_mb} MB in total."
