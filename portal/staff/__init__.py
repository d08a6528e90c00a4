"""The centre's console at /staff, for supervisors, agency officers and the postal desk (docs/STAFF.md).

The console reads and supervises; it does not process dossiers (the back-office does that through the API),
except for the centre's check of a result before it is returned.
"""
