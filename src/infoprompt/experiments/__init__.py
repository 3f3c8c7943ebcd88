"""Experiments as commands (above the API): `apet` (the APET paper's A1, A2 and E, `infoprompt apet ...`)."""
