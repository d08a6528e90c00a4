"""Reading the portal's PDFs back with poppler-utils, as a person's PDF reader would."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def poppler(tool: str) -> str:
    """Path of a poppler-utils tool; fail (never skip) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required for this test: install poppler-utils (apt-get install -y poppler-utils)")
    return path


def extract_text(pdf: bytes) -> str:
    """pdftotext's reading of the PDF (layout mode, UTF-8) with whitespace runs collapsed."""
    out = subprocess.run(
        [poppler("pdftotext"), "-layout", "-enc", "UTF-8", "-", "-"], input=pdf, check=True, capture_output=True
    ).stdout.decode("utf-8")
    return " ".join(out.split())
