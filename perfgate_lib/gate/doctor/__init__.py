"""``perfgate doctor``: check the outside contracts the kit relies on, in seconds.

:mod:`.model` (rows and the report), :mod:`.helptext` (reading help texts and script
sources), :mod:`.checks` (pure checks), :mod:`.probe` (the edge: processes with
timeouts, files), :mod:`.diagnose` (which gate needs which contract).
"""

from perfgate_lib.gate.doctor.diagnose import ALL_GATES, diagnose
from perfgate_lib.gate.doctor.model import BROKEN, HOLDS, UNCHECKED, Report, Row

__all__ = ["ALL_GATES", "BROKEN", "HOLDS", "UNCHECKED", "Report", "Row", "diagnose"]
