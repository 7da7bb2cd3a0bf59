"""Philippine TIN parsing: 9 digits plus a branch code.

The 9th digit is a check digit whose algorithm is unpublished (bir-odoo.md §2), so no checksum is
validated. Odoo stores the TIN in ``vat`` as ``NNN-NNN-NNN-NNNNN`` (branch 3 to 5 digits) or with no
dashes; DAT files want 9 digits and a 4-digit branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from odoolake.errors import BirRuleError


class TinStatus(StrEnum):
    VALID = "VALID"
    NORMALISED = "NORMALISED"  # readable, but not in the canonical NNN-NNN-NNN-NNNNN form
    MISSING = "MISSING"
    MALFORMED = "MALFORMED"


@dataclass(frozen=True)
class Tin:
    number: str  # 9 digits
    branch: str  # 4 digits, "0000" = head office

    def formatted(self) -> str:
        n = self.number
        return f"{n[:3]}-{n[3:6]}-{n[6:]}-{self.branch.zfill(5)}"


_CANONICAL = re.compile(r"^\d{3}-\d{3}-\d{3}(-\d{3,5})?$")


def parse_tin(raw: object, branch_hint: object = None) -> tuple[Tin | None, TinStatus]:
    """Parse what Odoo holds in ``vat`` (``False`` means empty). Never raises."""
    if raw is None or raw is False or (isinstance(raw, str) and not raw.strip()):
        return None, TinStatus.MISSING
    text = str(raw).strip()
    if re.search(r"[A-Za-z]", text):
        return None, TinStatus.MALFORMED
    digits = re.sub(r"\D", "", text)
    if len(digits) not in (9, 12, 13, 14):
        return None, TinStatus.MALFORMED
    number, branch = digits[:9], digits[9:]
    if len(set(number)) == 1:
        return None, TinStatus.MALFORMED  # 000000000 and other all-same-digit dummy TINs
    if not branch and branch_hint not in (None, False, ""):
        branch = re.sub(r"\D", "", str(branch_hint))
    branch = (branch or "0").lstrip("0").zfill(4)
    if len(branch) > 4:
        return None, TinStatus.MALFORMED
    status = TinStatus.VALID if _CANONICAL.match(text) else TinStatus.NORMALISED
    return Tin(number, branch), status


def require_tin(raw: object, branch_hint: object = None) -> Tin:
    tin, status = parse_tin(raw, branch_hint)
    if tin is None:
        raise BirRuleError(f"TIN {raw!r} is {status.value.lower()}: expected 9 digits plus a branch code.")
    return tin
