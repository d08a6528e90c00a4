"""Public statistics (/stats): on-time figures, rankings and charts computed in SQL from the dossiers."""
