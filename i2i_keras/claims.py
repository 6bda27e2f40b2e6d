"""Claim checks: a notebook sentence that states a result, checked against the numbers.

Prose written before the final run goes stale. A cell after a result calls
:func:`check` with the sentence and the comparison that makes it true; it prints one
line, ``CLAIM HOLDS: <claim>`` or ``CLAIM FAILS: <claim> (<numbers>)``, and never raises,
so a quick run (tiny data, where claims may well fail) still runs to the end, while a
full run's committed outputs can be searched for ``CLAIM FAILS``.

>>> unet_db, fbp_db = 31.2, 22.9
>>> check("FBP + U-Net is at least 8 dB above FBP", unet_db - fbp_db >= 8,
...       f"U-Net {unet_db:.1f} dB, FBP {fbp_db:.1f} dB")
CLAIM HOLDS: FBP + U-Net is at least 8 dB above FBP
True
>>> check("AUTOMAP beats FBP", 20.1 > 22.9, "AUTOMAP 20.1 dB, FBP 22.9 dB")
CLAIM FAILS: AUTOMAP beats FBP (AUTOMAP 20.1 dB, FBP 22.9 dB)
False
"""

from __future__ import annotations

import math


def check(claim: str, holds, numbers: str = "") -> bool:
    """Print ``CLAIM HOLDS: claim`` or ``CLAIM FAILS: claim (numbers)``; return whether it holds.

    Args:
        claim: the sentence as the notebook states it, e.g. "the hybrid's data-consistency
            error is at least 10x lower than the U-Net's".
        holds: the comparison that makes it true (a bool, or anything ``bool()`` accepts;
            NaN counts as failing).
        numbers: the measured values behind it, shown when the claim fails (shown in
            both cases would clutter the notebook; print them before the check).
    """
    try:
        ok = bool(holds) and not (isinstance(holds, float) and math.isnan(holds))
    except Exception:  # e.g. an array's ambiguous truth value: a failed claim, not a crash
        ok = False
    print(f"CLAIM HOLDS: {claim}" if ok else
          f"CLAIM FAILS: {claim}" + (f" ({numbers})" if numbers else ""))
    return ok
