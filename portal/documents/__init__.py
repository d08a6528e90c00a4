"""The citizen's personal document store (kho dữ liệu điện tử cá nhân, Decree 45/2020; docs/DOCUMENTS.md).

Results issued to a citizen and the uploads they chose to keep, reused in later dossiers instead of being
uploaded again. Below the dossier domain: the domain puts documents in and takes them out; this package never
reads a dossier.
"""
