"""JSON APIs for partner machines (agency back-offices, postal operators), versioned by path."""
