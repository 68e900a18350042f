"""Spreadsheet exports that are safe to open: no cell is read as a formula."""
from __future__ import annotations

import csv
import io

#: a spreadsheet reads a cell as a formula when it starts with = + - @, with tab, CR or LF, or with
#: ; | (a separator of another locale splits ";=cmd|'...'" into a formula cell; | is DDE's pipe) ...
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", ";", "|")
#: ... or when = + - @ follow separators and blanks it splits off or drops
_FORMULA_LEAD = " ,;|\t\r\n"


def csv_safe(value):
    """Neutralise spreadsheet formula injection (:data:`_FORMULA_STARTS`): such text gets a leading quote."""
    if isinstance(value, str) and (value.startswith(_FORMULA_STARTS)
                                   or value.lstrip(_FORMULA_LEAD).startswith(_FORMULA_STARTS[:4])):
        return "'" + value
    return value


def csv_text(columns: list[str], rows) -> str:
    """CSV text with a ``columns`` header, then ``rows`` (sequences of values), every cell :func:`csv_safe`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_safe(v) for v in row] for row in rows)
    return out.getvalue()
