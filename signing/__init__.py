"""Signing and verification (docs/SIGNING.md).

`asn1_fix` corrects asn1crypto's reading of a definite length ending in 0x80 before anything here encodes a
signature (a seal took 40–60 s when a timestamp token had such a length).
"""

from signing import asn1_fix as asn1_fix
